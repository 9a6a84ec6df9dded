package facepay

import (
	"fmt"
	"image"

	"posd/board/sim/facescene"
)

// enrolSeeds are the scenes each enrolled subject is enrolled from (the
// terminal's pictures come from other seeds): frames of a facescene clip
// of them, cut at the face box as a terminal cuts its crop, at a few
// frames of the take.
var (
	enrolSeeds  = []uint64{101, 202, 303, 404}
	enrolFrames = []int{0, 12, 24}
)

// enrolTurns are frames of a turning take the gallery also enrols (a
// customer's best frame may be a little turned): each seed's subject
// turning left and right, at a quarter and half of the turn.
var enrolTurns = []int{12, 15}

// buildDefaultGallery enrols every enrolled facescene subject from crops
// of its scenes.
func buildDefaultGallery() (*Gallery, error) {
	g := &Gallery{}
	w, h := facescene.W, facescene.H
	bgr := make([]byte, w*h*3)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for _, s := range facescene.Subjects() {
		if !s.Enrolled {
			continue
		}
		id := IdentityOf(s.Name)
		for k, seed := range enrolSeeds {
			act, frames := facescene.Still, enrolFrames
			if k >= 2 {
				act, frames = facescene.Left, enrolTurns
				if k == 3 {
					act = facescene.Right
				}
			}
			c, err := facescene.New(facescene.Scene{Subject: s.Name, Action: act, Seed: seed})
			if err != nil {
				return nil, fmt.Errorf("facepay: scene of %s: %w", s.Name, err)
			}
			for _, f := range frames {
				c.FrameBGR(f, bgr)
				for i := 0; i < w*h; i++ {
					img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = bgr[3*i+2], bgr[3*i+1], bgr[3*i], 255
				}
				g.Enrol(id, img, c.FaceBox(f))
			}
		}
	}
	if len(g.ids) == 0 {
		return nil, fmt.Errorf("facepay: facescene has no enrolled subject")
	}
	return g, nil
}
