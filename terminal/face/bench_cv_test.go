//go:build !nocv

package face

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time (every thread: OpenCV's
// too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAddDrawn640x480 is the per-frame pipeline on drawn frames (a
// blinking face); cmd/faceclips measures it on the generated scenes.
func BenchmarkAddDrawn640x480(b *testing.B) {
	c, err := New(Opts{MaxFrames: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	frames := drawnClip(30, 200, false, false)
	a := c.Begin(Closer, false) // a still face never comes closer: no decision
	defer func() { a.Close() }()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := a.Add(frames[i%len(frames)], nil); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/frame")
}
