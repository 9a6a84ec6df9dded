package facescene

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
)

// FPS is the scenes' frame rate: frame i is at i/FPS seconds.
const FPS = 30

// W and H are a scene's default size.
const (
	W = 640
	H = 480
)

// Takes last TakeFrames frames (2 s); Frame(i) for a later i holds the
// last pose, with the small sway of someone standing still.
const TakeFrames = 60

// Attack is what is presented to the camera.
type Attack string

// Attacks.
const (
	None   Attack = "none"   // the subject in person
	Print  Attack = "print"  // a printed photo of the subject
	Screen Attack = "screen" // a phone screen replaying a video of the subject
)

// Action is what the subject does in a take (or what the replayed video
// shows).
type Action string

// Actions. Left and Right are the subject's own: on the non-mirrored
// camera "left" turns the nose towards the image's right edge.
const (
	Still  Action = "none"
	Blink  Action = "blink"
	Left   Action = "left"
	Right  Action = "right"
	Closer Action = "closer"
)

// Scene is what stands in front of the camera.
type Scene struct {
	Subject string
	Attack  Attack // "" is None
	Action  Action // "" is Still; a print ignores it
	// Second is a second person in view ("" none): a bystander.
	Second string
	// Seed draws the lighting, the room, the noise, the sway, the hand's
	// motion: the same scene gives the same frames.
	Seed uint64
	W, H int // 0: W×H
}

// Clip is a scene's video.
type Clip struct {
	// Scene is the scene with its defaults filled in.
	Scene Scene

	subj, second Subject
	hasSecond    bool
	lt           light
	room         []byte // the room behind, BGR
	roomIR       []byte // and in the near infrared
	// The sensor's noise, already scaled to the clip's level: colour and
	// (stronger) near-infrared.
	noise, noiseIR []int8
	base           pose
	phase          [4]float64
	// attacks: the flat instrument's picture, its size and how it moves.
	tex       *canvas // print: the photo; screen: nil (the replay is drawn each frame)
	texW      int
	texH      int
	replay    *Clip // screen: the recorded video of the victim
	plane     planeMotion
	replayBuf []byte
}

// planeMotion is how a hand moves a flat picture: centre, distance and
// tilts over time.
type planeMotion struct {
	cx, cy, size   float64 // centre and the picture's height in pixels at rest
	tiltAmp, swing float64 // tilt about the vertical axis (radians), sideways swing (pixels)
	speed          float64 // radians a frame
	phase          float64
	hand           [3]float64 // the holder's skin
}

// New prepares a scene's clip.
func New(s Scene) (*Clip, error) {
	if s.W == 0 && s.H == 0 {
		s.W, s.H = W, H
	}
	if s.Attack == "" {
		s.Attack = None
	}
	if s.Action == "" {
		s.Action = Still
	}
	if s.W < 64 || s.H < 48 || s.W > 4096 || s.H > 4096 {
		return nil, fmt.Errorf("%w: size %dx%d", ErrScene, s.W, s.H)
	}
	subj, ok := Lookup(s.Subject)
	if !ok {
		return nil, fmt.Errorf("%w: unknown subject %q", ErrScene, s.Subject)
	}
	switch s.Action {
	case Still, Blink, Left, Right, Closer:
	default:
		return nil, fmt.Errorf("%w: unknown action %q", ErrScene, s.Action)
	}
	c := &Clip{Scene: s, subj: subj}
	if s.Second != "" {
		if c.second, ok = Lookup(s.Second); !ok {
			return nil, fmt.Errorf("%w: unknown subject %q", ErrScene, s.Second)
		}
		c.hasSecond = true
	}
	rnd := rand.New(rand.NewPCG(s.Seed, 0x5ce4e))
	c.lt = randomLight(rnd)
	c.room, c.roomIR = drawRoom(s.W, s.H, rnd)
	raw := make([]int8, 1<<16)
	for i := range raw {
		raw[i] = int8(max(-60, min(60, rnd.NormFloat64()*16)))
	}
	amp := 0.12 + 0.16*rnd.Float64() // sigma 2 to 4.5 levels
	c.noise, c.noiseIR = make([]int8, len(raw)), make([]int8, len(raw))
	k, kIR := int(amp*256), int(amp*1.5*256)
	for i, n := range raw {
		c.noise[i], c.noiseIR[i] = int8(int(n)*k>>8), int8(int(n)*kIR>>8)
	}
	fh := float64(s.H)
	c.base = pose{cx: float64(s.W)/2 + (rnd.Float64()-0.5)*0.1*float64(s.W), cy: fh * (0.43 + 0.04*rnd.Float64()),
		ry: fh * (0.22 + 0.04*rnd.Float64()), eyeOpen: 1}
	for i := range c.phase {
		c.phase[i] = rnd.Float64() * 2 * math.Pi
	}
	switch s.Attack {
	case None:
	case Print:
		c.preparePrint(rnd)
	case Screen:
		if err := c.prepareScreen(rnd); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown attack %q", ErrScene, s.Attack)
	}
	return c, nil
}

// Len is the number of frames in a take.
func (c *Clip) Len() int { return TakeFrames }

// randomLight draws a key light from the front, above, a little to a side.
func randomLight(rnd *rand.Rand) light {
	x := (rnd.Float64() - 0.5) * 0.9
	y := -0.12 - 0.33*rnd.Float64()
	z := 1.0
	n := math.Sqrt(x*x + y*y + z*z)
	return light{dir: [3]float64{x / n, y / n, z / n}, gain: 0.88 + 0.22*rnd.Float64()}
}

// ramp goes from 0 at frame a to 1 at frame b, smoothly.
func ramp(t, a, b float64) float64 {
	switch {
	case t <= a:
		return 0
	case t >= b:
		return 1
	}
	x := (t - a) / (b - a)
	return x * x * (3 - 2*x)
}

// poseAt is the live subject's pose in frame i doing act.
func (c *Clip) poseAt(i int, act Action) pose {
	p := c.base
	t := float64(i)
	take := float64(min(i, TakeFrames-1))
	p.cx += 4 * math.Sin(2*math.Pi*t/70+c.phase[0])
	p.cy += 2.5 * math.Sin(2*math.Pi*t/53+c.phase[1])
	p.roll = 0.035 * math.Sin(2*math.Pi*t/90+c.phase[2])
	p.yaw = 0.05 * math.Sin(2*math.Pi*t/80+c.phase[3])
	switch act {
	case Blink:
		// Two blinks: the lids shut for three frames (100 ms), closing
		// and opening over two more on each side (about 230 ms in all).
		for _, at := range [2]float64{22, 44} {
			p.eyeOpen = math.Min(p.eyeOpen, max(0, min(1, (math.Abs(take-at)-1)/2.5)))
		}
	case Left, Right:
		turn := 0.46 * (ramp(take, 8, 22) - ramp(take, 36, 52))
		if act == Right {
			turn = -turn
		}
		p.yaw += turn
		p.cx += 10 * turn // the head swings a little as it turns
	case Closer:
		g := 1 + 0.42*ramp(take, 8, 44)
		p.ry *= g
		p.cy += (g - 1) * p.ry * 0.15
	}
	return p
}

// secondPose is the bystander's: smaller, at the side, swaying.
func (c *Clip) secondPose(i int) pose {
	t := float64(i)
	side := 0.8
	if c.base.cx > float64(c.Scene.W)/2 {
		side = 0.2
	}
	return pose{cx: float64(c.Scene.W)*side + 5*math.Sin(t/9+c.phase[2]), cy: float64(c.Scene.H) * 0.42,
		ry: c.base.ry * 0.8, yaw: 0.08 * math.Sin(t/13), eyeOpen: 1}
}

// FrameBGR draws frame i in BGR order into dst (reused when it holds
// W·H·3 bytes) and returns it.
func (c *Clip) FrameBGR(i int, dst []byte) []byte {
	n := c.Scene.W * c.Scene.H * 3
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	c.draw(&canvas{pix: dst, w: c.Scene.W, h: c.Scene.H}, max(i, 0))
	return dst
}

// IRFrameGray draws the near-infrared view of frame i, one byte a pixel.
func (c *Clip) IRFrameGray(i int, dst []byte) []byte {
	n := c.Scene.W * c.Scene.H
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	c.draw(&canvas{pix: dst, w: c.Scene.W, h: c.Scene.H, ir: true}, max(i, 0))
	return dst
}

func (c *Clip) draw(cv *canvas, i int) {
	if cv.ir {
		copy(cv.pix, c.roomIR)
	} else {
		copy(cv.pix, c.room)
	}
	all := [4]int{0, 0, cv.w, cv.h}
	if c.hasSecond {
		drawHead(cv, &c.second, c.secondPose(i), c.lt, all)
	}
	switch c.Scene.Attack {
	case Print, Screen:
		c.drawPlane(cv, i)
	default:
		drawHead(cv, &c.subj, c.poseAt(i, c.Scene.Action), c.lt, all)
	}
	c.addNoise(cv, i)
}

// addNoise adds the sensor's noise, from a table at an offset per frame.
func (c *Clip) addNoise(cv *canvas, i int) {
	tab := c.noise
	if cv.ir {
		tab = c.noiseIR
	}
	mask := len(tab) - 1
	off := (i * 7919) & mask
	for j, v := range cv.pix {
		x := int(v) + int(tab[(j+off)&mask])
		cv.pix[j] = byte(max(0, min(255, x)))
	}
}

// FaceBox is the payer's face (brows to chin, cheek to cheek) in frame
// i: the ground truth a detector should find.
func (c *Clip) FaceBox(i int) image.Rectangle {
	if c.Scene.Attack == Print || c.Scene.Attack == Screen {
		return c.planeFaceBox(i)
	}
	return headBox(c.poseAt(max(i, 0), c.Scene.Action), c.subj.aspect)
}

// Yaw is the payer's head turn in frame i, in degrees: positive turns
// the nose towards the image's right (the subject's own left). A print's
// is the photo's (0: it is frontal), a screen's the replayed subject's.
func (c *Clip) Yaw(i int) float64 {
	switch c.Scene.Attack {
	case Print:
		return 0
	case Screen:
		return c.replay.Yaw(i)
	}
	return c.poseAt(max(i, 0), c.Scene.Action).yaw * 180 / math.Pi
}

// EyeOpen is how open the payer's eyes are in frame i: 1 open, 0 shut.
// A print's are always open.
func (c *Clip) EyeOpen(i int) float64 {
	switch c.Scene.Attack {
	case Print:
		return 1
	case Screen:
		return c.replay.EyeOpen(i)
	}
	return c.poseAt(max(i, 0), c.Scene.Action).eyeOpen
}

func headBox(p pose, aspect float64) image.Rectangle {
	rx := p.ry * aspect
	return image.Rect(int(p.cx-0.9*rx), int(p.cy-0.6*p.ry), int(p.cx+0.9*rx), int(p.cy+0.8*p.ry))
}

// drawRoom draws the room behind the subject: a lit wall, shelves,
// boxes and a door frame, things optical flow can hold on to.
func drawRoom(w, h int, rnd *rand.Rand) (rgb, ir []byte) {
	rgb = make([]byte, w*h*3)
	ir = make([]byte, w*h)
	wall := [3]float64{0.55 + 0.3*rnd.Float64(), 0.55 + 0.25*rnd.Float64(), 0.5 + 0.3*rnd.Float64()}
	type rect struct {
		x0, y0, x1, y1 int
		c              [3]float64
	}
	var rs []rect
	// A door frame on one side, shelves with boxes on the other.
	dx := int(float64(w) * (0.02 + 0.1*rnd.Float64()))
	rs = append(rs, rect{dx, h / 8, dx + w/6, h, [3]float64{0.35, 0.25, 0.18}})
	rs = append(rs, rect{dx + 10, h/8 + 10, dx + w/6 - 10, h, [3]float64{0.62, 0.55, 0.45}})
	for s := 0; s < 3; s++ {
		y := h/5 + s*h/4
		x0 := w - w/4 - int(rnd.Float64()*float64(w)/10)
		rs = append(rs, rect{x0, y, w, y + 6, [3]float64{0.3, 0.2, 0.12}})
		for b := x0 + 4; b < w-20; {
			bw := 12 + rnd.IntN(30)
			bh := 20 + rnd.IntN(45)
			c := [3]float64{rnd.Float64(), rnd.Float64(), rnd.Float64()}
			rs = append(rs, rect{b, y - bh, min(w, b+bw), y, c})
			b += bw + 3 + rnd.IntN(8)
		}
	}
	// A poster with stripes of "text".
	px, py := w/3+rnd.IntN(w/5), h/14
	rs = append(rs, rect{px, py, px + w/7, py + h/6, [3]float64{0.92, 0.92, 0.88}})
	for l := 0; l < 6; l++ {
		rs = append(rs, rect{px + 6, py + 8 + l*9, px + w/7 - 6 - rnd.IntN(20), py + 12 + l*9, [3]float64{0.15, 0.15, 0.2}})
	}
	put := func(x, y int, c [3]float64) {
		o := (y*w + x) * 3
		rgb[o], rgb[o+1], rgb[o+2] = clamp8(c[2]), clamp8(c[1]), clamp8(c[0])
		ir[y*w+x] = clamp8(0.3 * (c[0] + c[1] + c[2]) / 3)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g := 0.8 + 0.25*float64(y)/float64(h) - 0.1*float64(x)/float64(w)
			put(x, y, [3]float64{wall[0] * g, wall[1] * g, wall[2] * g})
		}
	}
	// Later rectangles over earlier ones.
	for _, r := range rs {
		for y := max(r.y0, 0); y < min(r.y1, h); y++ {
			for x := max(r.x0, 0); x < min(r.x1, w); x++ {
				put(x, y, r.c)
			}
		}
	}
	return rgb, ir
}
