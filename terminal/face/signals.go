package face

// openness of the eyes from an eye window's pixels: the share of them
// far (a fifth or more) from the window's median, darker or lighter. An
// open eye shows its sclera, iris and pupil, which differ from the skin
// around, whatever the iris's colour; a closed one shows a lid of skin
// with a thin line of lashes.
func openness(px []byte) float64 {
	if len(px) == 0 {
		return 0
	}
	var hist [256]int
	for _, p := range px {
		hist[p]++
	}
	med, seen := 0, 0
	for v := 0; v < 256; v++ {
		seen += hist[v]
		if 2*seen >= len(px) {
			med = v
			break
		}
	}
	far := 0
	for v := 0; v < 256; v++ {
		if 5*abs(v-med) >= med {
			far += hist[v]
		}
	}
	return float64(far) / float64(len(px))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
