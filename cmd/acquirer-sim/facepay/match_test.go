package facepay_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"slices"
	"testing"

	"posd/board/sim/facescene"
	"posd/cmd/acquirer-sim/facepay"
)

// TestMatcher measures the matcher on what terminals send: crops cut from
// facescene clip frames at the face box (widened 45-65 % and shifted a
// few pixels up, as a terminal's crop of its detector's box is, 160x160, JPEG quality 90), of seeds the gallery was not
// enrolled from. Every enrolled subject must be identified in at least
// 98 % of its crops, and the unenrolled ones rejected in at least 95 %.
func TestMatcher(t *testing.T) {
	if testing.Short() {
		t.Skip("matcher accuracy: not in -short")
	}
	g, err := facepay.DefaultGallery()
	if err != nil {
		t.Fatal(err)
	}
	shifts := []image.Point{{0, -8}, {5, -11}, {-4, -4}, {3, -2}, {-6, -10}}
	grows := []float64{1.45, 1.55, 1.65}
	frames := []int{0, 7, 14}
	var (
		right, wrong, missed, total int
		rejected, strangers         int
		genuine, stranger           []float64
	)
	for _, s := range facescene.Subjects() {
		for seed := uint64(1); seed <= 6; seed++ {
			for fi, frame := range frames {
				shift := shifts[(int(seed)+fi)%len(shifts)]
				grow := grows[(int(seed)*3+fi)%len(grows)]
				img := testCrop(t, s.Name, seed, frame, shift, grow)
				var b bytes.Buffer
				if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
					t.Fatal(err)
				}
				dec, err := jpeg.Decode(&b)
				if err != nil {
					t.Fatal(err)
				}
				id, d := g.Match(dec)
				switch {
				case !s.Enrolled:
					strangers++
					stranger = append(stranger, d)
					if id == nil {
						rejected++
					} else {
						t.Logf("stranger %s seed %d frame %d taken for %s at %.3f", s.Name, seed, frame, id.Name, d)
					}
				case id == nil:
					total++
					missed++
					genuine = append(genuine, d)
					t.Logf("%s seed %d frame %d shift %v grow %.2f not matched (%.3f)", s.Name, seed, frame, shift, grow, d)
				case id.Name == s.Name:
					total++
					right++
					genuine = append(genuine, d)
				default:
					total++
					wrong++
					t.Logf("%s seed %d frame %d taken for %s at %.3f", s.Name, seed, frame, id.Name, d)
				}
			}
		}
	}
	slices.Sort(genuine)
	slices.Sort(stranger)
	q := func(v []float64, p float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return v[min(len(v)-1, int(p*float64(len(v))))]
	}
	t.Logf("enrolled: %d/%d identified (%.1f %%), %d wrong, %d missed; genuine distance median %.3f p95 %.3f max %.3f",
		right, total, 100*float64(right)/float64(total), wrong, missed, q(genuine, 0.5), q(genuine, 0.95), q(genuine, 1))
	t.Logf("unenrolled: %d/%d rejected (%.1f %%); nearest distance min %.3f p05 %.3f median %.3f; threshold %.3f",
		rejected, strangers, 100*float64(rejected)/float64(max(1, strangers)), q(stranger, 0), q(stranger, 0.05), q(stranger, 0.5), facepay.DefaultThreshold)
	if total == 0 || float64(right) < 0.98*float64(total) {
		t.Errorf("identified %d of %d enrolled crops, want >= 98 %%", right, total)
	}
	if strangers == 0 || float64(rejected) < 0.95*float64(strangers) {
		t.Errorf("rejected %d of %d unenrolled crops, want >= 95 %%", rejected, strangers)
	}
}
