//go:build !nocv

package face

import (
	"image"
	"math"
)

// moireN is the side of the face patch whose spectrum shows a screen's
// moiré.
const moireN = 64

// hann is the Hann window over moireN samples.
var hann = func() [moireN]float32 {
	var w [moireN]float32
	for i := range w {
		w[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(moireN-1)))
	}
	return w
}()

// peakRatio reads an n x n complex spectrum (interleaved re, im): the
// strongest magnitude in the high band (radius above n/4, off the
// axes) over the median magnitude of that band.
func peakRatio(s []float32, n int) float64 {
	var mags []float64
	peak := 0.0
	for v := 0; v < n; v++ {
		fv := v
		if fv > n/2 {
			fv -= n
		}
		for u := 0; u <= n/2; u++ {
			if abs(u) <= 1 || abs(fv) <= 1 {
				continue
			}
			r := math.Hypot(float64(u), float64(fv))
			if r < float64(n)/4 || r > float64(n)/2 {
				continue
			}
			i := 2 * (v*n + u)
			m := math.Hypot(float64(s[i]), float64(s[i+1]))
			mags = append(mags, m)
			peak = math.Max(peak, m)
		}
	}
	med := median(mags)
	if med <= 0 {
		return 0
	}
	return peak / med
}

func overlap(a0, a1, b0, b1 int) int { return max(0, min(a1, b1)-max(a0, b0)) }

// grow returns r grown by f of its size on every side (f 0.5: twice as
// wide and high), around its centre.
func grow(r image.Rectangle, f float64) image.Rectangle {
	dx, dy := int(float64(r.Dx())*f/2), int(float64(r.Dy())*f/2)
	return image.Rect(r.Min.X-dx, r.Min.Y-dy, r.Max.X+dx, r.Max.Y+dy)
}
