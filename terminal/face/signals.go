package face

import "math"

// openness of the eyes from the eye band's pixels: how much darker the
// band's darkest 2 % (pupils, irises, lashes of open eyes) is than the
// band's mean, in [0,1]. Closed lids are skin: the darkest part is much
// lighter.
func openness(px []byte) float64 {
	var hist [256]int
	sum := 0
	for _, p := range px {
		hist[p]++
		sum += int(p)
	}
	if sum == 0 {
		return 0
	}
	want := max(len(px)/50, 1)
	got, dark := 0, 0
	for v := 0; v < 256 && got < want; v++ {
		k := min(hist[v], want-got)
		got += k
		dark += k * v
	}
	mean := float64(sum) / float64(len(px))
	return math.Max(0, 1-float64(dark)/float64(got)/mean)
}
