//go:build nocv

package camera

// pixels of a pure Go build: packed BGR bytes.
type pixels struct{ bgr []byte }

func pixelsFromBGR(_, _ int, bgr []byte) (pixels, error) {
	return pixels{bgr: append([]byte(nil), bgr...)}, nil
}

func (p *pixels) release() { p.bgr = nil }

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
