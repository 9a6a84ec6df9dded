//go:build nocv

package camera

import "fmt"

// pixels of a pure Go build: packed BGR bytes.
type pixels struct{ bgr []byte }

func pixelsFromBGR(_, _ int, bgr []byte) (pixels, error) {
	return pixels{bgr: append([]byte(nil), bgr...)}, nil
}

// release wipes the pixels (a face is personal data) and drops them.
func (p *pixels) release() { clear(p.bgr); p.bgr = nil }

func (p *pixels) copyBGR(dst []byte) error {
	if len(dst) != len(p.bgr) {
		return ErrFrameFormat
	}
	copy(dst, p.bgr)
	return nil
}

func (p *pixels) clone() (pixels, error) {
	return pixels{bgr: append([]byte(nil), p.bgr...)}, nil
}

func (p *pixels) copyRGBA(dst []byte) error { return bgrToRGBA(dst, p.bgr) }

// bgrToRGBA converts packed BGR to RGBA with opaque alpha.
func bgrToRGBA(dst, src []byte) error {
	if len(src)%3 != 0 || len(dst) != len(src)/3*4 {
		return fmt.Errorf("%w: %d BGR bytes into %d RGBA bytes", ErrFrameFormat, len(src), len(dst))
	}
	for len(src) >= 3 && len(dst) >= 4 {
		d, s := dst[:4:4], src[:3:3]
		d[0], d[1], d[2], d[3] = s[2], s[1], s[0], 0xff
		dst, src = dst[4:], src[3:]
	}
	return nil
}
