//go:build !nocv

package camera

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "qr_cv.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// qrBuild tells that this build can decode QR codes.
const qrBuild = true

// qrNative is the OpenCV detector; p is nil once released.
type qrNative struct{ p *C.posd_qr_t }

// NewQRDetector returns a detector backed by OpenCV's
// cv::wechat_qrcode::WeChatQRCode and cv::QRCodeDetector. Call Close when
// done with it.
func NewQRDetector() (*QRDetector, error) {
	var cerr *C.char
	p := C.posd_qr_new(&cerr)
	if p == nil {
		return nil, fmt.Errorf("%w: new detector: %s", ErrQRDetect, takeCString(cerr))
	}
	return &QRDetector{qr: qrNative{p: p}}, nil
}

// release deletes the native detector once; the caller holds the lock.
func (n *qrNative) release() {
	if n.p != nil {
		C.posd_qr_delete(n.p)
		n.p = nil
	}
}

func (q *QRDetector) decodeFrame(f *Frame, stages qrStages) ([]string, qrStages, error) {
	if q == nil {
		return nil, 0, ErrQRClosed
	}
	if f == nil {
		return nil, 0, fmt.Errorf("%w: nil frame", ErrFrameFormat)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.qr.p == nil {
		return nil, 0, ErrQRClosed
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, 0, ErrFrameClosed
	}
	mat := unsafe.Pointer(f.px.mat.Ptr())
	if mat == nil {
		return nil, 0, fmt.Errorf("%w: frame without pixels", ErrFrameFormat)
	}
	return q.qr.decode(mat, nil, 0, 0, 0, stages)
}

func (q *QRDetector) decodeBytes(w, h, ch int, px []byte, stages qrStages) ([]string, qrStages, error) {
	if q == nil {
		return nil, 0, ErrQRClosed
	}
	if err := checkQRSize(w, h, ch, len(px), true); err != nil {
		return nil, 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.qr.p == nil {
		return nil, 0, ErrQRClosed
	}
	return q.qr.decode(nil, (*C.uchar)(unsafe.Pointer(&px[0])), h, w, ch, stages)
}

// decode runs the native search over a cv::Mat (mat) or packed pixels
// (data); the caller holds the QRDetector's lock.
func (n qrNative) decode(mat unsafe.Pointer, data *C.uchar, rows, cols, ch int, stages qrStages) ([]string, qrStages, error) {
	var (
		out    *C.char
		outlen C.size_t
		found  C.int
		cerr   *C.char
	)
	rc := C.posd_qr_decode(n.p, mat, data, C.int(rows), C.int(cols), C.int(ch), C.int(stages), &out, &outlen, &found, &cerr)
	switch rc {
	case C.POSD_QR_OK:
	case C.POSD_QR_BAD_FORMAT:
		return nil, 0, fmt.Errorf("%w: not an 8-bit grey, BGR or BGRA picture", ErrFrameFormat)
	default:
		return nil, 0, fmt.Errorf("%w: %s", ErrQRDetect, takeCString(cerr))
	}
	if out == nil {
		return []string{}, qrStages(found), nil
	}
	blob := C.GoBytes(unsafe.Pointer(out), C.int(outlen))
	C.free(unsafe.Pointer(out))
	var texts []string
	for len(blob) >= 4 {
		l := int(binary.NativeEndian.Uint32(blob))
		if l > len(blob)-4 {
			break
		}
		texts = append(texts, string(blob[4:4+l]))
		blob = blob[4+l:]
	}
	return dedupTexts(texts), qrStages(found), nil
}

// takeCString returns s as a Go string and frees it.
func takeCString(s *C.char) string {
	if s == nil {
		return "unknown error"
	}
	defer C.free(unsafe.Pointer(s))
	return C.GoString(s)
}

// dedupTexts drops empty texts (codes found but not decoded) and repeats.
func dedupTexts(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == s {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}
