package api

import (
	"errors"
	"net/http"

	"posd/internal/daemon"
	"posd/terminal/paycode"
)

// qrDecodeView is what POST /v1/qr/decode answers (posctl qr decode):
// the first code's kind, the code masked, and for an EMV consumer-
// presented code its data objects with the card data masked; never a
// customer's code. A merchant-presented code (not secret: merchant,
// amount, order) is also given whole (Payload), as a phone scanning the
// display reads it.
type qrDecodeView struct {
	Kind    paycode.Kind `json:"kind"`
	Masked  string       `json:"masked"`
	Reason  string       `json:"reason,omitempty"`
	CPM     *paycode.CPM `json:"emv_cpm,omitempty"`
	MPM     *paycode.MPM `json:"emv_mpm,omitempty"`
	Payload string       `json:"mpm_payload,omitempty"`
	// Codes is how many QR codes the picture holds (the first is shown).
	Codes int `json:"codes_in_image"`
}

// qrDecode reads the QR codes of a picture with posd's QR detector.
func (a *api) qrDecode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Image []byte `json:"image"`
	}
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxPicture*4/3+1024), &req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if len(req.Image) == 0 {
		fail(w, http.StatusBadRequest, errors.New("image (base64 PNG or JPEG) is required"))
		return
	}
	codes, err := a.d.DecodePicture(req.Image)
	switch {
	case errors.Is(err, daemon.ErrNoReader):
		fail(w, http.StatusNotImplemented, errors.New("this posd was built without OpenCV: it has no QR detector"))
		return
	case errors.Is(err, daemon.ErrPicture):
		fail(w, http.StatusBadRequest, err)
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
		return
	case len(codes) == 0:
		fail(w, http.StatusUnprocessableEntity, errors.New("no QR code found in the picture"))
		return
	}
	v := qrDecodeView{Codes: len(codes)}
	code := paycode.Classify(codes[0])
	v.Kind, v.Masked, v.Reason = code.Kind, code.Masked, code.Reason
	switch code.Kind {
	case paycode.KindEMVCPM:
		cpm, err := paycode.ParseCPM(codes[0])
		if err != nil {
			v.Reason = errorText(err)
		} else {
			defer cpm.Wipe()
			v.CPM = cpm
		}
	case paycode.KindUnknown:
		if m, err := paycode.ParseMPM(codes[0]); err == nil {
			v.MPM, v.Payload = &m, codes[0]
			v.Reason = "a merchant-presented code: the customer scans it, the terminal does not"
		}
	}
	clear(codes)
	writeJSON(w, http.StatusOK, v)
}
