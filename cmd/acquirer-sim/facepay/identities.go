package facepay

import (
	"crypto/sha256"
	"fmt"
	"image"
	"math"
	"sync"
)

// Identity is an enrolled customer of the simulated platform.
type Identity struct {
	Name     string // the facescene subject
	Account  string // 16 digits: the PAN of the payment password's PIN block
	Masked   string // what the terminal shows
	Password string // 6 digits
}

// Identities are the accounts of the deck's enrolled subjects (the table
// of the package doc).
var Identities = []Identity{
	{"alice", "6230580000001001", "6230 **** 1001", "135790"},
	{"bob", "6230580000001002", "6230 **** 1002", "246802"},
	{"chen", "6230580000001003", "6230 **** 1003", "314159"},
	{"dana", "6230580000001004", "6230 **** 1004", "271828"},
	{"emil", "6230580000001005", "6230 **** 1005", "161803"},
	{"fatima", "6230580000001006", "6230 **** 1006", "112358"},
}

// IdentityOf returns the account of an enrolled subject: the table's, or
// for a name not in it an account 62305800000019NN (NN from the name's
// hash) and a password derived from the name.
func IdentityOf(name string) Identity {
	for _, id := range Identities {
		if id.Name == name {
			return id
		}
	}
	h := sha256.Sum256([]byte("posd face-pay sim " + name))
	nn := int(h[0]) % 100
	pw := (int(h[1])<<16 | int(h[2])<<8 | int(h[3])) % 1000000
	acct := fmt.Sprintf("62305800000019%02d", nn)
	return Identity{Name: name, Account: acct, Masked: "6230 **** " + acct[12:], Password: fmt.Sprintf("%06d", pw)}
}

// Password is the payment password of an enrolled subject (for tests
// and the simulated customer).
func Password(name string) string { return IdentityOf(name).Password }

// Gallery is the enrolled faces and the matcher's threshold. Build one
// with Enrol; it is read-only (safe for concurrent use) once built.
type Gallery struct {
	// Threshold is the largest distance accepted as a match
	// (DefaultThreshold when 0).
	Threshold float64
	ids       []*enrolled

	once   sync.Once
	weight [3]float64 // per part: discriminability over the inter-face scale
}

type enrolled struct {
	id        Identity
	templates []embedding
}

// DefaultThreshold is the distance (1 being about the distance between
// two different faces) under which the nearest enrolled face is a match,
// set from TestMatcher's figures on facescene crops.
const DefaultThreshold = 0.36

// framings are the face-box widenings and shifts (fractions of the box)
// each enrolment picture is described at. A terminal's crop is its
// detector's face box widened CropGrow times; Match describes the
// crop's middle 1/CropGrow, the detector's box again. OpenCV's frontal
// cascade boxes a facescene face about 1.1 times its ground-truth box and
// about 5 % higher.
var framings = []struct{ grow, dx, dy float64 }{
	{1.10, 0, -0.05}, {1.02, 0, -0.05}, {1.18, 0, -0.05}, {1.10, 0.04, -0.05}, {1.10, -0.04, -0.05},
	{1.10, 0, 0}, {1.10, 0, -0.10},
}

// CropGrow is how much a terminal widens its detector's face box for the
// crop it sends (terminal/face).
const CropGrow = 1.4

// Enrol adds a picture of id (call it before the first Match); box is the face's box in each picture (the
// crop described is the box widened as the terminal widens it).
func (g *Gallery) Enrol(id Identity, img image.Image, box image.Rectangle) {
	var e *enrolled
	for _, x := range g.ids {
		if x.id.Name == id.Name {
			e = x
		}
	}
	if e == nil {
		e = &enrolled{id: id}
		g.ids = append(g.ids, e)
	}
	for _, f := range framings {
		e.templates = append(e.templates, embed(img, widen(box, f.grow, f.dx, f.dy)))
	}
}

// widen grows box about its centre by grow (then squares it) and shifts
// it by dx, dy of its side.
func widen(box image.Rectangle, grow, dx, dy float64) image.Rectangle {
	cx := float64(box.Min.X+box.Max.X)/2 + dx*float64(box.Dx())
	cy := float64(box.Min.Y+box.Max.Y)/2 + dy*float64(box.Dy())
	s := grow * float64(max(box.Dx(), box.Dy()))
	x0, y0 := int(math.Round(cx-s/2)), int(math.Round(cy-s/2))
	n := int(math.Round(s))
	return image.Rect(x0, y0, x0+n, y0+n)
}

// Names lists the enrolled identities' names.
func (g *Gallery) Names() []string {
	var n []string
	for _, e := range g.ids {
		n = append(n, e.id.Name)
	}
	return n
}

// Match returns the enrolled identity nearest to the crop (the whole
// picture, squared) and its distance; the identity is nil when none is
// within the threshold.
func (g *Gallery) Match(crop image.Image) (*Identity, float64) {
	g.once.Do(g.calibrate)
	q := embed(crop, middle(square(crop.Bounds()), 1/CropGrow))
	best, bestD := (*enrolled)(nil), math.Inf(1)
	for _, e := range g.ids {
		for _, t := range e.templates {
			if d := g.distance(q, t); d < bestD {
				best, bestD = e, d
			}
		}
	}
	th := g.Threshold
	if th == 0 {
		th = DefaultThreshold
	}
	if best == nil || bestD > th {
		return nil, bestD
	}
	id := best.id
	return &id, bestD
}

// distance is the calibrated distance of two descriptions.
func (g *Gallery) distance(a, b embedding) float64 {
	p := parts(a, b)
	return g.weight[0]*p[0] + g.weight[1]*p[1] + g.weight[2]*p[2]
}

// calibrate sets the parts' weights from the enrolment pictures (see the
// matcher's notes): the mean distance of each part between templates of
// one identity (intra) and of different identities (inter), at the same
// framing.
func (g *Gallery) calibrate() {
	var intra, inter [3]float64
	var nIntra, nInter float64
	nf := len(framings)
	for i, a := range g.ids {
		for j := i; j < len(g.ids); j++ {
			b := g.ids[j]
			for x := range a.templates {
				for y := range b.templates {
					if x%nf != y%nf || (i == j && x >= y) {
						continue
					}
					p := parts(a.templates[x], b.templates[y])
					if i == j {
						for k := range p {
							intra[k] += p[k]
						}
						nIntra++
					} else {
						for k := range p {
							inter[k] += p[k]
						}
						nInter++
					}
				}
			}
		}
	}
	sum := 0.0
	for k := range g.weight {
		g.weight[k] = 1.0 / 3
		if nInter == 0 || inter[k] == 0 {
			continue
		}
		ie := inter[k] / nInter
		disc := 1.0
		if nIntra > 0 && intra[k] > 0 {
			disc = ie / (intra[k] / nIntra)
		}
		g.weight[k] = disc * disc / ie
		sum += disc * disc
	}
	if sum > 0 {
		for k := range g.weight {
			g.weight[k] /= sum
		}
	}
}

// DefaultGallery is the gallery of the deck: every enrolled subject of
// board/sim/facescene from a few portraits of different seeds, built
// once.
var DefaultGallery = sync.OnceValues(buildDefaultGallery)

// middle is the centred square of sq with f of its side.
func middle(sq image.Rectangle, f float64) image.Rectangle {
	n := int(float64(sq.Dx())*f + 0.5)
	x0 := sq.Min.X + (sq.Dx()-n)/2
	y0 := sq.Min.Y + (sq.Dy()-n)/2
	return image.Rect(x0, y0, x0+n, y0+n)
}
