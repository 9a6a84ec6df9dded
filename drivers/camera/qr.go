package camera

import (
	"fmt"
	"image"
	"sync"
)

// QRDetector finds and decodes the QR codes in camera frames: the wallet
// payment codes customers show on their phones. It reads them with
// OpenCV's WeChatQRCode and locates them with its QRCodeDetector (see
// "QR codes" in the package documentation for what it reads and what it
// cannot).
//
// A QRDetector is safe for concurrent use: one native detector serves the
// calls one at a time (OpenCV objects are not safe for concurrent use), so
// goroutines that must decode in parallel use one QRDetector each. Close
// releases the native detector. No method logs or keeps the decoded text:
// it is a customer's payment credential and goes only to the caller.
//
// The build with the nocv tag has no OpenCV: NewQRDetector returns an
// *UnsupportedError there, and the methods of a nil or zero QRDetector
// report it.
type QRDetector struct {
	mu sync.Mutex
	qr qrNative // the build's native detector; zero after Close
}

// maxQRSide bounds each side of a picture given to a QRDetector: a 4K
// camera frame (3840x2160) fits; what is larger is no camera's.
const maxQRSide = 4096

// qrStages selects which stages of the search run; see qrAllStages.
type qrStages uint8

const (
	qrStageWhole   qrStages = 1 << iota // WeChatQRCode on the grey picture
	qrStageRegions                      // a code read: QRCodeDetector finds more, WeChatQRCode reads each
	qrStageRetry                        // nothing read: the region found at 2x, plain and sharpened

	// qrAllStages is what the exported methods run.
	qrAllStages = qrStageWhole | qrStageRegions | qrStageRetry
)

// Decode returns the text of every QR code OpenCV can read in f, each
// text once, in the order found; none is an empty result and a nil error.
// f stays the caller's, and is only read. A nil or closed frame is an
// error (ErrFrameFormat, ErrFrameClosed), as is a detector used after
// Close (ErrQRClosed).
func (q *QRDetector) Decode(f *Frame) ([]string, error) {
	texts, _, err := q.decodeFrame(f, qrAllStages)
	return texts, err
}

// DecodeImage is Decode for a Go image (a still, a test picture). A
// *image.Gray is read as it is; any other image is converted to BGR first,
// transparent pixels becoming white (a code drawn on a transparent
// background reads as on paper). An image without pixels is
// ErrFrameFormat.
func (q *QRDetector) DecodeImage(img image.Image) ([]string, error) {
	texts, _, err := q.decodeImage(img, qrAllStages)
	return texts, err
}

// DecodeBGR is Decode for packed 8-bit BGR pixels, as Frame.BGR and
// posd/conn/video frames give them: w*h*3 bytes, rows top to bottom without
// padding. Sizes that do not match, are not positive or exceed 4096 on a
// side are ErrFrameFormat. bgr is only read, and not kept.
func (q *QRDetector) DecodeBGR(w, h int, bgr []byte) ([]string, error) {
	texts, _, err := q.decodeBytes(w, h, 3, bgr, qrAllStages)
	return texts, err
}

func (q *QRDetector) decodeImage(img image.Image, stages qrStages) ([]string, qrStages, error) {
	if !qrBuild {
		return q.decodeBytes(0, 0, 0, nil, stages)
	}
	if img == nil {
		return nil, 0, fmt.Errorf("%w: nil image", ErrFrameFormat)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if err := checkQRSize(w, h, 1, 0, false); err != nil {
		return nil, 0, err
	}
	if g, ok := img.(*image.Gray); ok {
		px := g.Pix
		if g.Stride != w {
			px = make([]byte, w*h)
			for y := 0; y < h; y++ {
				copy(px[y*w:(y+1)*w], g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):])
			}
		} else {
			px = px[g.PixOffset(b.Min.X, b.Min.Y):][:w*h]
		}
		return q.decodeBytes(w, h, 1, px, stages)
	}
	return q.decodeBytes(w, h, 3, imageToBGR(img), stages)
}

// Close releases the native detector. Only the first call does anything;
// afterwards the Decode methods return ErrQRClosed.
func (q *QRDetector) Close() error {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.qr.release()
	return nil
}

// checkQRSize checks a picture of w x h pixels of ch bytes each, and
// when checkLen is set that n is exactly its size.
func checkQRSize(w, h, ch, n int, checkLen bool) error {
	if w <= 0 || h <= 0 || w > maxQRSide || h > maxQRSide {
		return fmt.Errorf("%w: %dx%d picture", ErrFrameFormat, w, h)
	}
	if checkLen && n != w*h*ch {
		return fmt.Errorf("%w: %d bytes for a %dx%d picture of %d bytes per pixel", ErrFrameFormat, n, w, h, ch)
	}
	return nil
}

// imageToBGR converts any image to packed BGR over a white background.
// Colours are alpha-premultiplied (image.RGBA, color.Color.RGBA), so a
// colour over white is the colour plus the missing alpha.
func imageToBGR(img image.Image) []byte {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]byte, 0, w*h*3)
	switch m := img.(type) {
	case *image.RGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][: w*4 : w*4]
			for i := 0; i < len(row); i += 4 {
				t := 255 - row[i+3]
				out = append(out, row[i+2]+t, row[i+1]+t, row[i]+t)
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, a := img.At(x, y).RGBA()
				t := 0xffff - a
				out = append(out, uint8((bl+t)>>8), uint8((g+t)>>8), uint8((r+t)>>8))
			}
		}
	}
	return out
}
