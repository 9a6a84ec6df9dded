//go:build !nocv

package main

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"posd/board/sim/facescene"
	"posd/conn/video"
	"posd/terminal/face"
)

// cpuTime is the process's CPU time, every thread's (OpenCV's own too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// framePeriod is a frame's time at facescene's (and the camera's) 30 fps.
var framePeriod = time.Second / facescene.FPS

// BenchmarkFramePipeline640x480 is the pipeline's cost per 640x480 frame
// of a live subject (detection, tracking, eyes, quality, moiré, border,
// parallax), frames drawn beforehand. One op is one frame; attempts start
// again when one decides. cpu-ms/frame counts every thread's CPU time;
// period-% is that over the 33 ms frame period (target: at most 33 %).
func BenchmarkFramePipeline640x480(b *testing.B) {
	sc := facescene.Scene{Subject: facescene.Subjects()[0].Name, Attack: facescene.None, Action: facescene.Blink, Seed: 7, W: 640, H: 480}
	clip, err := facescene.New(sc)
	if err != nil {
		b.Fatal(err)
	}
	var frames []*video.BytesFrame
	var buf []byte
	for i := 0; i < min(clip.Len(), 60); i++ {
		f, err := clipFrame(clip, i, false, &buf)
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, f)
	}
	c, err := face.New(face.Opts{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// A blinking subject asked to come closer never decides early: every
	// frame of the clip is looked at, as during a slow customer's attempt.
	a := c.Begin(face.Closer, false)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		if i%len(frames) == 0 && i > 0 {
			a.Close()
			a = c.Begin(face.Closer, false)
		}
		p, err := a.Add(frames[i%len(frames)], nil)
		if err != nil {
			b.Fatal(err)
		}
		if p.Done {
			a.Close()
			a = c.Begin(face.Closer, false)
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.StopTimer()
	a.Close()
	for _, f := range frames {
		f.Close()
	}
	perFrame := float64(cpu) / float64(b.N)
	b.ReportMetric(perFrame/1e6, "cpu-ms/frame")
	b.ReportMetric(float64(wall)/float64(b.N)/1e6, "ms/frame")
	b.ReportMetric(100*perFrame/float64(framePeriod), "period-%")
}

// BenchmarkTimeToDecision plays cooperative live subjects (every subject
// doing every challenge, as asked) and reports the video time to the
// decision: video-ms (mean over live decisions; target at most 1500),
// video-ms-max, frames (mean), live-% (the share decided live). One op is
// one clip; drawing the frames is not timed.
func BenchmarkTimeToDecision(b *testing.B) {
	var scenes []facescene.Scene
	for i, s := range facescene.Subjects() {
		for _, act := range []facescene.Action{facescene.Blink, facescene.Left, facescene.Right, facescene.Closer} {
			scenes = append(scenes, facescene.Scene{Subject: s.Name, Attack: facescene.None, Action: act, Seed: uint64(100 + i), W: 640, H: 480})
		}
	}
	c, err := face.New(face.Opts{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var videos []time.Duration
	frames, live := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc := scenes[i%len(scenes)]
		b.StopTimer()
		clip, err := facescene.New(sc)
		if err != nil {
			b.Fatal(err)
		}
		src := &timedSource{clipSource: clipSource{clip: clip}, b: b}
		b.StartTimer()
		r, err := c.CheckClip(context.Background(), src, nil, face.Challenge(sc.Action))
		if err != nil {
			b.Fatal(err)
		}
		src.Close()
		frames += r.Frames
		if r.Decision == face.Live {
			live++
			videos = append(videos, r.Video)
		}
	}
	b.StopTimer()
	if len(videos) > 0 {
		var sum time.Duration
		for _, v := range videos {
			sum += v
		}
		b.ReportMetric(float64(sum.Milliseconds())/float64(len(videos)), "video-ms")
		b.ReportMetric(float64(slices.Max(videos).Milliseconds()), "video-ms-max")
	}
	b.ReportMetric(float64(frames)/float64(b.N), "frames")
	b.ReportMetric(100*float64(live)/float64(b.N), "live-%")
}

// timedSource keeps the drawing of frames out of the benchmark's time.
type timedSource struct {
	clipSource
	b *testing.B
}

func (s *timedSource) Next(ctx context.Context) (video.Frame, error) {
	s.b.StopTimer()
	defer s.b.StartTimer()
	return s.clipSource.Next(ctx)
}
