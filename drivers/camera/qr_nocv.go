//go:build nocv

package camera

// qrBuild tells that this build cannot decode QR codes.
const qrBuild = false

// qrNative is empty: this build has no OpenCV.
type qrNative struct{}

func qrUnsupported() error {
	return &UnsupportedError{Src: "QR detector", Reason: "built with the nocv tag (no OpenCV); wallet codes come from a barcode scanner"}
}

// NewQRDetector returns nil and an *UnsupportedError: this build has no
// OpenCV and no camera.
func NewQRDetector() (*QRDetector, error) { return nil, qrUnsupported() }

// release does nothing: there is no native detector.
func (n *qrNative) release() {}

func (q *QRDetector) decodeFrame(*Frame, qrStages) ([]string, qrStages, error) {
	return nil, 0, qrUnsupported()
}

func (q *QRDetector) decodeBytes(int, int, int, []byte, qrStages) ([]string, qrStages, error) {
	return nil, 0, qrUnsupported()
}
