//go:build !nocv

package daemon

import (
	"os"
	"strconv"
	"strings"
)

// rssMB is the process's resident memory (Linux /proc/self/statm).
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}
