//go:build !nocv

package camera

import (
	"encoding/base64"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// Wallet payloads of the three kinds a customer's phone shows.
var (
	// qrWeChat is an 18-digit payment code as WeChat Pay and Alipay
	// show them (numeric, version 1).
	qrWeChat = "134567890123456789"
	// qrMPM is an EMV merchant-presented string (EMVCo MPM, CRC included).
	qrMPM = emvMPM()
	// qrCPM is an EMV consumer-presented payload, base64 of BER-TLV
	// (EMVCo CPM), as a UnionPay or bank wallet shows it.
	qrCPM = emvCPM()
)

func tlv(tag, value string) string { return fmt.Sprintf("%s%02d%s", tag, len(value), value) }

// crc16CCITT is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), EMVCo MPM's tag 63.
func crc16CCITT(s string) uint16 {
	crc := uint16(0xffff)
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func emvMPM() string {
	s := tlv("00", "01") + tlv("01", "12") +
		tlv("26", tlv("00", "com.example.wallet")+tlv("01", "8881234567890123")) +
		tlv("52", "5812") + tlv("53", "156") + tlv("54", "88.00") + tlv("58", "CN") +
		tlv("59", "COFFEE HOUSE") + tlv("60", "SHANGHAI") + "6304"
	return s + fmt.Sprintf("%04X", crc16CCITT(s))
}

func berTLV(tag []byte, value []byte) []byte {
	return append(append(append([]byte{}, tag...), byte(len(value))), value...)
}

func emvCPM() string {
	app := []byte{}
	for _, e := range [][2][]byte{
		{{0x4f}, {0xa0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x02}},
		{{0x50}, []byte("UnionPay Debit")},
		{{0x57}, {0x62, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0xd3, 0x01, 0x22, 0x01, 0x00, 0x00, 0x00, 0x00, 0x0f}},
		{{0x5f, 0x20}, []byte("ZHANG/SAN")},
		{{0x5f, 0x2d}, []byte("zhen")},
		{{0x9f, 0x10}, {0x07, 0x01, 0x01, 0x03, 0xa0, 0x00, 0x00, 0x01, 0x0a, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78}},
		{{0x9f, 0x26}, {0x8a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71}},
		{{0x9f, 0x27}, {0x80}},
		{{0x9f, 0x36}, {0x00, 0x2a}},
		{{0x82}, {0x7c, 0x00}},
		{{0x9f, 0x37}, {0x1f, 0x2e, 0x3d, 0x4c}},
		{{0x9f, 0x02}, {0x00, 0x00, 0x00, 0x00, 0x88, 0x00}},
		{{0x5f, 0x2a}, {0x01, 0x56}},
		{{0x9a}, {0x24, 0x06, 0x11}},
		{{0x9f, 0x1a}, {0x01, 0x56}},
		{{0x9f, 0x34}, {0x1f, 0x03, 0x02}},
	} {
		app = append(app, berTLV(e[0], e[1])...)
	}
	payload := append(berTLV([]byte{0x85}, []byte("CPV01")), berTLV([]byte{0x61}, app)...)
	return base64.StdEncoding.EncodeToString(payload)
}

// qrPlacement puts one code into a scene: its bitmap (quiet zone included)
// at module pixels per module, centred at (cx, cy), turned by angle
// degrees clockwise and tilted back by tilt degrees about its horizontal
// axis, seen by a pinhole camera 600 px away (about a 56 degree field of
// view across 640 px).
type qrPlacement struct {
	bits        [][]bool
	module      float64
	cx, cy      float64
	angle       float64
	tilt        float64
	whiteBorder int // extra light modules around the quiet zone: the phone's screen
}

func qrBits(t testing.TB, text string) [][]bool {
	t.Helper()
	c, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	return c.Bitmap() // with the 4-module quiet zone
}

// sceneW, sceneH are the size of the synthetic camera pictures.
const sceneW, sceneH = 640, 480

// qrBackground is a grey 640x480 counter top: gradients, wood-like grain,
// a few dark and light blobs and pixel noise; seed varies it.
func qrBackground(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	bg := make([]float32, sceneW*sceneH)
	type blob struct{ x, y, r, v float64 }
	var blobs []blob
	for i := 0; i < 6; i++ {
		blobs = append(blobs, blob{r.Float64() * sceneW, r.Float64() * sceneH, 20 + r.Float64()*60, r.Float64()*120 - 60})
	}
	for y := 0; y < sceneH; y++ {
		for x := 0; x < sceneW; x++ {
			fx, fy := float64(x), float64(y)
			v := 110 + 40*fx/sceneW - 25*fy/sceneH
			v += 12 * math.Sin(fx/7+3*math.Sin(fy/40)) // grain
			v += 6 * math.Sin((fx+2*fy)/3.1)
			for _, b := range blobs {
				if d := math.Hypot(fx-b.x, fy-b.y); d < b.r {
					v += b.v * (1 - d/b.r)
				}
			}
			bg[y*sceneW+x] = float32(v + r.NormFloat64()*5)
		}
	}
	return bg
}

// qrScene renders codes onto a background, blurs with a Gaussian of sigma
// pixels (0: none), adds sensor noise and returns 8-bit grey pixels.
func qrScene(bg []float32, codes []qrPlacement, sigma float64, seed uint64) []byte {
	img := append([]float32(nil), bg...)
	const dark, light = 35, 220 // a phone screen is neither black nor white
	const dist = 600.0
	for _, c := range codes {
		n := float64(len(c.bits))
		half := (n/2 + float64(c.whiteBorder)) * c.module // half side in pixels, flat
		sinA, cosA := math.Sincos(c.angle * math.Pi / 180)
		sinT, cosT := math.Sincos(c.tilt * math.Pi / 180)
		// Project the corners to bound the work.
		minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, p := range [][2]float64{{-half, -half}, {half, -half}, {half, half}, {-half, half}} {
			x, y := p[0]*cosA-p[1]*sinA, p[0]*sinA+p[1]*cosA
			s := dist / (dist + y*sinT)
			px, py := c.cx+x*s, c.cy+y*cosT*s
			minX, maxX = math.Min(minX, px), math.Max(maxX, px)
			minY, maxY = math.Min(minY, py), math.Max(maxY, py)
		}
		x0, x1 := max(0, int(minX)-1), min(sceneW-1, int(maxX)+1)
		y0, y1 := max(0, int(minY)-1), min(sceneH-1, int(maxY)+1)
		// sample returns the code plane's brightness under a scene point,
		// or -1 outside the phone's screen.
		sample := func(sx, sy float64) float32 {
			xp, yp := sx-c.cx, sy-c.cy
			y := yp * dist / (cosT*dist - yp*sinT) // undo the tilt
			x := xp * (dist + y*sinT) / dist
			u, v := x*cosA+y*sinA, -x*sinA+y*cosA // undo the turn
			if math.Abs(u) > half || math.Abs(v) > half {
				return -1
			}
			mu, mv := int(math.Floor(u/c.module+n/2)), int(math.Floor(v/c.module+n/2))
			if mu >= 0 && mv >= 0 && mu < len(c.bits) && mv < len(c.bits) && c.bits[mv][mu] {
				return dark
			}
			return light
		}
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				// 3x3 samples per pixel: the sensor averages over it.
				var sum float32
				k := 0
				for j := 0; j < 3; j++ {
					for i := 0; i < 3; i++ {
						if v := sample(float64(x)+(float64(i)+0.5)/3, float64(y)+(float64(j)+0.5)/3); v >= 0 {
							sum += v
							k++
						}
					}
				}
				if k > 0 {
					p := &img[y*sceneW+x]
					*p = (sum + float32(9-k)**p) / 9
				}
			}
		}
	}
	if sigma > 0 {
		img = gaussBlur(img, sceneW, sceneH, sigma)
	}
	r := rand.New(rand.NewPCG(seed, 0xa015e))
	out := make([]byte, len(img))
	for i, v := range img {
		v += float32(r.NormFloat64() * 2)
		out[i] = uint8(min(255, max(0, v+0.5)))
	}
	return out
}

// gaussBlur blurs a w x h picture with a Gaussian of sigma pixels,
// edges replicated.
func gaussBlur(src []float32, w, h int, sigma float64) []float32 {
	rad := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*rad+1)
	var sum float32
	for i := range k {
		d := float64(i - rad)
		k[i] = float32(math.Exp(-d * d / (2 * sigma * sigma)))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float32, len(src))
	dst := make([]float32, len(src))
	for y := 0; y < h; y++ {
		row := src[y*w : (y+1)*w]
		for x := 0; x < w; x++ {
			var s float32
			for i, kv := range k {
				s += kv * row[min(w-1, max(0, x+i-rad))]
			}
			tmp[y*w+x] = s
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float32
			for i, kv := range k {
				s += kv * tmp[min(h-1, max(0, y+i-rad))*w+x]
			}
			dst[y*w+x] = s
		}
	}
	return dst
}

// greyToBGR spreads grey pixels over three equal channels.
func greyToBGR(g []byte) []byte {
	out := make([]byte, 0, len(g)*3)
	for _, v := range g {
		out = append(out, v, v, v)
	}
	return out
}

// greyImage wraps grey pixels of the scene size as an image.
func greyImage(g []byte) *image.Gray {
	return &image.Gray{Pix: g, Stride: sceneW, Rect: image.Rect(0, 0, sceneW, sceneH)}
}

// fits reports whether a placement stays inside the picture.
func (c qrPlacement) fits() bool {
	n := float64(len(c.bits))
	half := (n/2 + float64(c.whiteBorder)) * c.module
	sinA, cosA := math.Sincos(c.angle * math.Pi / 180)
	sinT, cosT := math.Sincos(c.tilt * math.Pi / 180)
	const dist = 600.0
	for _, p := range [][2]float64{{-half, -half}, {half, -half}, {half, half}, {-half, half}} {
		x, y := p[0]*cosA-p[1]*sinA, p[0]*sinA+p[1]*cosA
		s := dist / (dist + y*sinT)
		px, py := c.cx+x*s, c.cy+y*cosT*s
		if px < 0 || py < 0 || px >= sceneW || py >= sceneH {
			return false
		}
	}
	return true
}
