//go:build !nocv

package camera

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

var qrPayloads = map[string]string{"wechat": qrWeChat, "mpm": qrMPM, "cpm": qrCPM}

// qrCase is one synthetic camera picture: a payload's code with modules of
// module pixels, turned by angle degrees, tilted back by tilt degrees and
// blurred by a Gaussian of sigma pixels.
type qrCase struct {
	payload                    string
	module, angle, sigma, tilt float64
}

func (c qrCase) String() string {
	return fmt.Sprintf("%s/m%g/a%g/s%g/t%g", c.payload, c.module, c.angle, c.sigma, c.tilt)
}

// qrMatrix is the set of pictures TestQRMatrix reads: per payload a turn
// sweep (4 px modules, slight blur), a module sweep (sharp and sigma 1),
// a blur sweep (3 and 5 px modules) and perspective tilts.
func qrMatrix() []qrCase {
	var cs []qrCase
	for _, p := range []string{"wechat", "mpm", "cpm"} {
		for _, a := range []float64{0, 10, 30, 45, 90, 180} {
			cs = append(cs, qrCase{payload: p, module: 4, angle: a, sigma: 0.5})
		}
		for _, m := range []float64{2, 3, 5, 8} {
			for _, s := range []float64{0, 1} {
				cs = append(cs, qrCase{payload: p, module: m, angle: 10, sigma: s})
			}
		}
		for _, m := range []float64{3, 5} {
			for _, s := range []float64{2, 3} {
				cs = append(cs, qrCase{payload: p, module: m, angle: 30, sigma: s})
			}
		}
		for _, c := range [][3]float64{{30, 4, 30}, {45, 4, 30}, {40, 6, 20}} {
			cs = append(cs, qrCase{payload: p, module: c[1], angle: c[2], sigma: 0.5, tilt: c[0]})
		}
	}
	return cs
}

// placement puts the case's code into the picture near its centre; seed
// moves it a little.
func (c qrCase) placement(t testing.TB, seed uint64) qrPlacement {
	dx, dy := [3]float64{0, 13, -13}[seed%3], [3]float64{0, -11, 11}[seed/3%3]
	return qrPlacement{bits: qrBits(t, qrPayloads[c.payload]), module: c.module, cx: 320 + dx, cy: 240 + dy,
		angle: c.angle, tilt: c.tilt, whiteBorder: 2}
}

func (s qrStages) String() string {
	var names []string
	for i, name := range []string{"whole", "regions", "retry"} {
		if s&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, "+")
}

type qrOutcome int

const (
	qrMustRead  qrOutcome = iota // read with every seed measured
	qrNoRead                     // read with no seed measured: a limit
	qrSometimes                  // read with some seeds: not asserted
	qrNoFit                      // the code does not fit the picture
)

func (o qrOutcome) String() string {
	return [...]string{"read", "LIMIT", "edge", "n/a"}[o]
}

// qrKnown is what OpenCV 4.6 (Debian 12, WeChatQRCode without its CNN
// models) does with qrMatrix, measured with QR_MEASURE=4 (four seeds:
// backgrounds, noise and positions) on amd64. Cases not listed are read.
var qrKnown = map[string]qrOutcome{
	// 2 px modules: read when sharp (the small WeChat code only with
	// the retry, and not always), never once blurred.
	"wechat/m2/a10/s0/t0": qrSometimes,
	"wechat/m2/a10/s1/t0": qrNoRead,
	"mpm/m2/a10/s1/t0":    qrNoRead,
	"cpm/m2/a10/s1/t0":    qrNoRead,
	// 3 px modules stand sigma 1, not 2; 5 px modules stand 2, not 3.
	"wechat/m3/a30/s2/t0": qrNoRead,
	"wechat/m3/a30/s3/t0": qrNoRead,
	"mpm/m3/a30/s2/t0":    qrNoRead,
	"mpm/m3/a30/s3/t0":    qrNoRead,
	"cpm/m3/a30/s2/t0":    qrNoRead,
	"cpm/m3/a30/s3/t0":    qrNoRead,
	"wechat/m5/a30/s3/t0": qrSometimes,
	"mpm/m5/a30/s3/t0":    qrNoRead,
	"cpm/m5/a30/s3/t0":    qrNoRead,
	// Strong perspective on a version 1 code (no alignment pattern).
	"wechat/m4/a30/s0.5/t45": qrSometimes,
	"wechat/m6/a20/s0.5/t40": qrNoRead,
	// A 57-module code of 8 px (or tilted at 6 px) is larger than the picture.
	"cpm/m8/a10/s0/t0":    qrNoFit,
	"cpm/m8/a10/s1/t0":    qrNoFit,
	"cpm/m6/a20/s0.5/t40": qrNoFit,
}

// TestQRMatrix reads every picture of qrMatrix, logs a table of what
// is read and fails when a case that must be read is not, or when a
// known limit is read after all (then OpenCV improved: update qrKnown and
// the package documentation). QR_MEASURE=n measures the cases over n
// seeds instead and prints a qrKnown that fits.
func TestQRMatrix(t *testing.T) {
	seeds := 1
	measure := false
	stages := qrAllStages
	if v := os.Getenv("QR_STAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		stages = qrStages(n)
	}
	if v := os.Getenv("QR_MEASURE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("QR_MEASURE=%q: want a number of seeds", v)
		}
		seeds, measure = n, true
	}
	cases := qrMatrix()
	if qrRace && !measure {
		// The race detector slows the Go rendering tenfold; the
		// detector's concurrency has its own test.
		cases = slices.DeleteFunc(cases, func(c qrCase) bool { return c.sigma > 0.5 || c.tilt != 0 })
	}
	type result struct {
		hits, tried int
		stages      qrStages
		wrong       []string
	}
	results := make([]result, len(cases))
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		q := newTestQR(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= len(cases) {
					return
				}
				c, r := cases[k], &results[k]
				for seed := uint64(0); seed < uint64(seeds); seed++ {
					p := c.placement(t, seed)
					if !p.fits() {
						continue
					}
					g := qrScene(qrBackground(seed+1), []qrPlacement{p}, c.sigma, seed+7)
					texts, st, err := q.decodeBytes(sceneW, sceneH, 1, g, stages)
					if err != nil {
						t.Errorf("%v: %v", c, err)
						continue
					}
					r.tried++
					r.stages |= st
					switch {
					case len(texts) == 1 && texts[0] == qrPayloads[c.payload]:
						r.hits++
					case len(texts) > 0:
						r.wrong = append(r.wrong, texts...)
					}
				}
			}
		}()
	}
	wg.Wait()

	var table, known strings.Builder
	fmt.Fprintf(&table, "%-24s %-6s %s\n", "case", "want", "got")
	for k, c := range cases {
		r := results[k]
		if len(r.wrong) > 0 {
			t.Errorf("%v: read wrong text (%d codes)", c, len(r.wrong)) // never the text itself
		}
		want, ok := qrKnown[c.String()]
		if !ok {
			want = qrMustRead
		}
		got := fmt.Sprintf("%d/%d read", r.hits, r.tried)
		if r.stages&^qrStageWhole != 0 {
			got += " (" + r.stages.String() + ")"
		}
		fmt.Fprintf(&table, "%-24v %-6v %s\n", c, want, got)
		var is qrOutcome
		switch {
		case r.tried == 0:
			is = qrNoFit
		case r.hits == r.tried:
			is = qrMustRead
		case r.hits == 0:
			is = qrNoRead
		default:
			is = qrSometimes
		}
		if measure {
			if is != qrMustRead {
				fmt.Fprintf(&known, "\t%q: %s,\n", c, map[qrOutcome]string{qrNoRead: "qrNoRead", qrSometimes: "qrSometimes", qrNoFit: "qrNoFit"}[is])
			}
			continue
		}
		if want != qrSometimes && is != want {
			t.Errorf("%v: %s, want %v", c, got, want)
		}
	}
	t.Logf("QR codes read by OpenCV 4.6 in 640x480 pictures:\n%s", table.String())
	if measure {
		t.Logf("qrKnown for %d seeds:\n%s", seeds, known.String())
	}
}

func newTestQR(t testing.TB) *QRDetector {
	t.Helper()
	q, err := NewQRDetector()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// qrTestFrame is a 640x480 BGR frame holding the given payloads' codes
// side by side, modules of module pixels, lightly blurred.
func qrTestFrame(t testing.TB, module float64, payloads ...string) *Frame {
	t.Helper()
	var codes []qrPlacement
	for i, p := range payloads {
		cx := sceneW * (float64(i) + 0.5) / float64(len(payloads))
		c := qrPlacement{bits: qrBits(t, p), module: module, cx: cx, cy: 240, angle: float64(4 - 9*i), whiteBorder: 1}
		if !c.fits() {
			t.Fatalf("code %d of %d modules of %g px does not fit", i, len(c.bits), module)
		}
		codes = append(codes, c)
	}
	f, err := NewFrameBGR(sceneW, sceneH, greyToBGR(qrScene(qrBackground(5), codes, 0.7, 11)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestQRDecodeFrame(t *testing.T) {
	q := newTestQR(t)
	for _, p := range []string{qrWeChat, qrMPM, qrCPM} {
		f := qrTestFrame(t, 4, p)
		texts, err := q.Decode(f)
		if err != nil || len(texts) != 1 || texts[0] != p {
			t.Errorf("Decode: %d texts (%v), want the %d-byte payload", len(texts), err, len(p))
		}
	}
}

// TestQRTwoCodes reads two codes side by side, of 6 px modules: the
// second code is found by QRCodeDetector.detectMulti, which needs such
// sizes (see the package documentation).
func TestQRTwoCodes(t *testing.T) {
	q := newTestQR(t)
	const other = "287654321098765432"
	for _, pair := range [][2]string{{qrWeChat, qrMPM}, {qrWeChat, other}} {
		f := qrTestFrame(t, 6, pair[0], pair[1])
		texts, err := q.Decode(f)
		slices.Sort(texts)
		want := []string{pair[0], pair[1]}
		slices.Sort(want)
		if err != nil || !slices.Equal(texts, want) {
			t.Errorf("Decode of two codes: %d texts (%v), want both", len(texts), err)
		}
	}
}

func TestQRNoCode(t *testing.T) {
	q := newTestQR(t)
	flat := make([]byte, sceneW*sceneH)
	for i := range flat {
		flat[i] = uint8(120 + i*7919%11)
	}
	tex := texturedFrame(1)
	pictures := map[string][]byte{
		"counter":  qrScene(qrBackground(3), nil, 0, 3),
		"blurred":  qrScene(qrBackground(4), nil, 2, 4),
		"flat":     flat,
		"textured": imageToBGR(tex),
	}
	for name, px := range pictures {
		ch := len(px) / (sceneW * sceneH)
		texts, _, err := q.decodeBytes(sceneW, sceneH, ch, px, qrAllStages)
		if err != nil || texts == nil || len(texts) != 0 {
			t.Errorf("%s: %q, %v; want an empty result", name, texts, err)
		}
	}
	texts, err := q.DecodeImage(tex)
	if err != nil || len(texts) != 0 {
		t.Errorf("DecodeImage: %q, %v", texts, err)
	}
}

// TestQRDecodeImageKinds reads one code from every kind of Go image the
// conversion handles: grey and RGBA (fast paths, sub-images too) and any
// other image through color.Color.
func TestQRDecodeImageKinds(t *testing.T) {
	q := newTestQR(t)
	g := greyImage(qrScene(qrBackground(6), []qrPlacement{{bits: qrBits(t, qrMPM), module: 4, cx: 300, cy: 250, angle: 3, whiteBorder: 2}}, 0.5, 6))
	rgba := image.NewRGBA(g.Bounds())
	nrgba := image.NewNRGBA(g.Bounds())
	for y := 0; y < sceneH; y++ {
		for x := 0; x < sceneW; x++ {
			v := g.GrayAt(x, y).Y
			rgba.SetRGBA(x, y, color.RGBA{v, v, v, 255})
			nrgba.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	big := image.NewGray(image.Rect(0, 0, 2*sceneW, 2*sceneH)) // pixels doubled: 1280x960
	for y := 0; y < 2*sceneH; y++ {
		for x := 0; x < 2*sceneW; x++ {
			big.Pix[y*big.Stride+x] = g.Pix[y/2*g.Stride+x/2]
		}
	}
	// Dark modules on a transparent background, as a generated PNG may be.
	bits := qrBits(t, qrWeChat)
	clearN := image.NewNRGBA(image.Rect(0, 0, 4*len(bits), 4*len(bits)))
	clearP := image.NewRGBA(clearN.Bounds())
	for y := range 4 * len(bits) {
		for x := range 4 * len(bits) {
			if bits[y/4][x/4] {
				clearN.SetNRGBA(x, y, color.NRGBA{20, 20, 20, 255})
				clearP.SetRGBA(x, y, color.RGBA{20, 20, 20, 255})
			}
		}
	}
	code, err := qrcode.New(qrCPM, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		img  image.Image
		want string
	}{
		{"gray", g, qrMPM},
		{"gray sub-image", g.SubImage(image.Rect(100, 60, 520, 440)), qrMPM},
		{"rgba", rgba, qrMPM},
		{"rgba sub-image", rgba.SubImage(image.Rect(100, 60, 520, 440)), qrMPM},
		{"nrgba", nrgba, qrMPM},
		{"gray 1280x960", big, qrMPM},
		{"paletted (go-qrcode)", code.Image(-3), qrCPM},
		{"nrgba, transparent background", clearN, qrWeChat},
		{"rgba, transparent background", clearP, qrWeChat},
	}
	for _, tt := range tests {
		texts, err := q.DecodeImage(tt.img)
		if err != nil || len(texts) != 1 || texts[0] != tt.want {
			t.Errorf("%s (%T): %d texts (%v), want the %d-byte payload", tt.name, tt.img, len(texts), err, len(tt.want))
		}
	}
	// The same pixels as packed BGR.
	texts, err := q.DecodeBGR(sceneW, sceneH, imageToBGR(rgba))
	if err != nil || len(texts) != 1 || texts[0] != qrMPM {
		t.Errorf("DecodeBGR: %d texts (%v)", len(texts), err)
	}
}

// TestQRBadInput: pictures without pixels, of wrong sizes, tiny or of
// random content are errors or empty results, never a crash.
func TestQRBadInput(t *testing.T) {
	q := newTestQR(t)
	closed, err := NewFrameBGR(2, 2, make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	for name, f := range map[string]*Frame{"nil": nil, "zero": {}, "closed": closed} {
		if _, err := q.Decode(f); err == nil {
			t.Errorf("Decode(%s frame) succeeded", name)
		}
	}
	if _, err := q.Decode(closed); !errors.Is(err, ErrFrameClosed) {
		t.Errorf("Decode(closed frame) = %v, want ErrFrameClosed", err)
	}
	for _, tt := range []struct {
		w, h int
		bgr  []byte
	}{
		{0, 0, nil}, {-1, 4, make([]byte, 12)}, {4, -1, make([]byte, 12)}, {2, 2, make([]byte, 11)},
		{2, 2, make([]byte, 13)}, {4 * maxQRSide, 4 * maxQRSide, make([]byte, 3)}, {math.MaxInt / 2, 4, make([]byte, 12)},
		{maxQRSide + 1, 1, make([]byte, 3*(maxQRSide+1))},
	} {
		if _, err := q.DecodeBGR(tt.w, tt.h, tt.bgr); !errors.Is(err, ErrFrameFormat) {
			t.Errorf("DecodeBGR(%d, %d, %d bytes) = %v, want ErrFrameFormat", tt.w, tt.h, len(tt.bgr), err)
		}
	}
	for _, img := range []image.Image{nil, image.NewGray(image.Rect(0, 0, 0, 0)), image.NewRGBA(image.Rect(5, 5, 5, 9))} {
		if _, err := q.DecodeImage(img); !errors.Is(err, ErrFrameFormat) {
			t.Errorf("DecodeImage(%T) = %v, want ErrFrameFormat", img, err)
		}
	}
	// Tiny, uniform and random pictures.
	seed := uint32(1)
	rnd := func() byte { seed = seed*1664525 + 1013904223; return byte(seed >> 24) }
	for _, size := range [][2]int{{1, 1}, {2, 3}, {20, 20}, {21, 21}, {22, 300}, {300, 22}, {64, 64}, {333, 17}, {maxQRSide, 30}} {
		w, h := size[0], size[1]
		for _, fill := range []string{"white", "random"} {
			px := make([]byte, w*h*3)
			for i := range px {
				if px[i] = 255; fill == "random" {
					px[i] = rnd()
				}
			}
			if texts, err := q.DecodeBGR(w, h, px); err != nil || len(texts) != 0 {
				t.Errorf("DecodeBGR(%dx%d %s) = %d texts, %v", w, h, fill, len(texts), err)
			}
		}
	}
}

func TestQRClose(t *testing.T) {
	q, err := NewQRDetector()
	if err != nil {
		t.Fatal(err)
	}
	f := qrTestFrame(t, 4, qrWeChat)
	if texts, err := q.Decode(f); err != nil || len(texts) != 1 {
		t.Fatalf("Decode = %d texts, %v", len(texts), err)
	}
	for i := 0; i < 2; i++ {
		if err := q.Close(); err != nil {
			t.Fatalf("Close #%d = %v", i+1, err)
		}
	}
	var nilQ *QRDetector
	for name, d := range map[string]*QRDetector{"closed": q, "nil": nilQ, "zero": {}} {
		if _, err := d.Decode(f); !errors.Is(err, ErrQRClosed) {
			t.Errorf("%s: Decode = %v, want ErrQRClosed", name, err)
		}
		if _, err := d.DecodeImage(image.NewGray(image.Rect(0, 0, 4, 4))); !errors.Is(err, ErrQRClosed) {
			t.Errorf("%s: DecodeImage = %v, want ErrQRClosed", name, err)
		}
		if _, err := d.DecodeBGR(2, 2, make([]byte, 12)); !errors.Is(err, ErrQRClosed) {
			t.Errorf("%s: DecodeBGR = %v, want ErrQRClosed", name, err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("%s: Close = %v", name, err)
		}
	}
}

// TestQRNoMatLeak: decoding opens no native matrix of the package's count
// and keeps none; the frames decoded are the only ones counted.
func TestQRNoMatLeak(t *testing.T) {
	before := OpenMats()
	q := newTestQR(t)
	f := qrTestFrame(t, 5, qrMPM)
	withFrame := OpenMats()
	if withFrame != before+1 {
		t.Fatalf("OpenMats = %d with one frame, %d before", withFrame, before)
	}
	for i := 0; i < 5; i++ {
		g, err := f.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if texts, err := q.Decode(g); err != nil || len(texts) != 1 {
			t.Fatalf("Decode = %d texts, %v", len(texts), err)
		}
		if n := OpenMats(); n != withFrame+1 {
			t.Fatalf("OpenMats = %d after Decode, want %d", n, withFrame+1)
		}
		g.Close()
	}
	f.Close()
	q.Close()
	if n := OpenMats(); n != before {
		t.Fatalf("OpenMats = %d after closing everything, %d before", n, before)
	}
}

// TestQRConcurrent shares one detector between goroutines, Close racing
// with them at the end. Run with -race.
func TestQRConcurrent(t *testing.T) {
	q, err := NewQRDetector()
	if err != nil {
		t.Fatal(err)
	}
	f := qrTestFrame(t, 6, qrWeChat)
	bgr, err := f.BGR()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				var texts []string
				var err error
				if (g+i)%2 == 0 {
					texts, err = q.Decode(f)
				} else {
					texts, err = q.DecodeBGR(sceneW, sceneH, bgr)
				}
				switch {
				case errors.Is(err, ErrQRClosed):
					return
				case err != nil || len(texts) != 1 || texts[0] != qrWeChat:
					errs <- fmt.Errorf("%d texts, %v", len(texts), err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := q.DecodeBGR(sceneW, sceneH, bgr); err != nil {
			errs <- err
		}
		q.Close()
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
