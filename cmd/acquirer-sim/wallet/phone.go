package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"posd/terminal/money"
	"posd/terminal/paycode"
	tw "posd/terminal/wallet"
)

// The simulated customer's phone.
const (
	// PhonePath is the phone's endpoint: it pays a scanned
	// merchant-presented code (see the package doc).
	PhonePath = "/phone/pay"
	// OpPhonePay is the journal's op of a phone pay.
	OpPhonePay = "phone_pay"
)

// Refusals of a phone pay of an order already final (besides the
// protocol's codes): the payer is not charged.
const (
	CodeOrderClosed   = "order_closed"
	CodeOrderRefunded = "order_refunded"
)

// phoneRequest is the body of a phone pay.
type phoneRequest struct {
	Platform string `json:"platform"`
	Payload  string `json:"payload"`
}

// guis are the platforms' GUIs in a merchant account template.
var guis = map[tw.Platform]string{
	tw.WeChat:   paycode.GUIWeChat,
	tw.Alipay:   paycode.GUIAlipay,
	tw.UnionPay: paycode.GUIUnionPay,
}

// phoneCall is a phone pay read from its body: the platform, the parsed
// payload and the merchant ids of the platform's templates in it.
type phoneCall struct {
	platform  tw.Platform
	mpm       paycode.MPM
	merchants []string
	amount    int64 // the payload's, in minor units; 0 when it has none
	amountErr error
}

// decodePhone reads a phone pay's body; the refusal is a bad_request
// reason that never quotes the payload.
func decodePhone(method string, body []byte, readErr error) (phoneCall, string) {
	var pc phoneCall
	if method != http.MethodPost {
		return pc, "method"
	}
	if readErr != nil {
		return pc, "body"
	}
	var r phoneRequest
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil || d.More() {
		return pc, "body"
	}
	pc.platform = tw.Platform(r.Platform)
	if !pc.platform.Valid() {
		pc.platform = ""
		return pc, "platform"
	}
	m, err := paycode.ParseMPM(r.Payload)
	if errors.Is(err, paycode.ErrCRC) {
		return pc, "payload CRC does not match"
	}
	if err != nil {
		return pc, "payload is not a merchant-presented code"
	}
	pc.mpm = m
	for _, a := range m.Accounts {
		if strings.EqualFold(a.GUI, guis[pc.platform]) {
			pc.merchants = append(pc.merchants, a.MerchantID)
		}
	}
	if len(pc.merchants) == 0 {
		return pc, "no merchant account of the platform in the code"
	}
	if m.Amount == "" {
		pc.amountErr = errors.New("no amount")
	} else {
		pc.amount, pc.amountErr = m.Minor()
	}
	return pc, ""
}

// servePhone answers POST PhonePath: the simulated customer's phone pays
// a merchant-presented code it scanned.
func (s *Sim) servePhone(w http.ResponseWriter, hr *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, tw.MaxBody))
	pc, bad := decodePhone(hr.Method, body, err)
	e := Entry{Time: s.clk.Now(), Platform: string(pc.platform), Op: OpPhonePay}
	if tw.ValidID(pc.mpm.Terminal) {
		e.Terminal = pc.mpm.Terminal
	}
	if tw.ValidID(pc.mpm.Bill) {
		e.OrderID = pc.mpm.Bill
	}
	if pc.amountErr == nil {
		e.Amount = pc.amount
	}
	var resp tw.Response
	status := http.StatusOK
	s.mu.Lock()
	s.totals.Calls++
	s.totals.PhonePays++
	if bad != "" {
		s.totals.BadRequest++
		resp, status = tw.Response{OrderID: e.OrderID, Code: tw.CodeBadRequest, Reason: bad}, http.StatusBadRequest
	} else {
		s.dirty = true
		resp, status = s.phonePay(pc, &e)
		if err := s.save(); err != nil {
			resp, status, _ = s.notSaved(e.OrderID, err)
		}
	}
	s.mu.Unlock()
	e.Status, e.Code = string(resp.Status), resp.Code
	s.journal(e)
	rb, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(rb)
}

// phonePay pays the precreated order a valid payload names; s.mu is
// held.
func (s *Sim) phonePay(pc phoneCall, e *Entry) (tw.Response, int) {
	m := pc.mpm
	refuse := func(st int, code, reason string) (tw.Response, int) {
		return tw.Response{OrderID: e.OrderID, Code: code, Reason: reason}, st
	}
	if e.Terminal == "" || e.OrderID == "" {
		return refuse(http.StatusNotFound, tw.CodeNotFound, "no terminal label or bill number of an order")
	}
	o := s.orders[m.Terminal+"|"+m.Bill]
	if o == nil || o.platform != pc.platform || o.kind == kindPay {
		return refuse(http.StatusNotFound, tw.CodeNotFound, "no order waiting for this code")
	}
	if o.kind == kindPrecreate {
		if want := s.o.Merchants[pc.platform]; want != "" {
			found := false
			for _, mid := range pc.merchants {
				found = found || mid == want
			}
			if !found {
				return refuse(http.StatusConflict, tw.CodeOrderMismatch, "merchant id is not the order's")
			}
		}
		oc, err := money.Lookup(o.currency)
		if err != nil || oc.Numeric != m.Currency {
			return refuse(http.StatusConflict, tw.CodeOrderMismatch, "currency is not the order's")
		}
		if pc.amountErr != nil || pc.amount != o.amount {
			return refuse(http.StatusConflict, tw.CodeOrderMismatch, "amount is not the order's")
		}
	}
	switch o.status {
	case tw.StatusUserPaying:
		s.pay(o, pc.platform)
	case tw.StatusSuccess:
		// Paid already (by this phone or another): answer it, never
		// pay again.
		s.totals.PhonePayRepeats++
		e.Duplicate = true
	default:
		r := answer(e.OrderID, o)
		r.Code = "order_" + string(o.status)
		return r, http.StatusConflict
	}
	return answer(e.OrderID, o), http.StatusOK
}

// PhonePay is the simulated customer's phone: it asks the simulator at
// baseURL to pay the merchant-presented payload, as scanned, through
// platform, and returns the decoded answer. A refusal comes back in
// Response.Code (Status then tells a final order's state); the error is
// for transport and decoding failures only and never quotes the payload.
// hc nil: a client with a 10 s timeout.
func PhonePay(ctx context.Context, baseURL string, platform tw.Platform, payload string, hc *http.Client) (tw.Response, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	body, err := json.Marshal(phoneRequest{Platform: string(platform), Payload: payload})
	if err != nil {
		return tw.Response{}, fmt.Errorf("phone pay: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+PhonePath, bytes.NewReader(body))
	if err != nil {
		return tw.Response{}, fmt.Errorf("phone pay: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return tw.Response{}, fmt.Errorf("phone pay: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, tw.MaxBody+1))
	if err != nil {
		return tw.Response{}, fmt.Errorf("phone pay answer: %w", err)
	}
	if len(rb) > tw.MaxBody {
		return tw.Response{}, fmt.Errorf("phone pay answer longer than %d bytes", tw.MaxBody)
	}
	var r tw.Response
	if err := json.Unmarshal(rb, &r); err != nil {
		return tw.Response{}, fmt.Errorf("phone pay answer (HTTP %d) is not JSON", resp.StatusCode)
	}
	if (resp.StatusCode == http.StatusOK) != (r.Code == "") {
		return tw.Response{}, fmt.Errorf("phone pay answer: HTTP %d and its code disagree", resp.StatusCode)
	}
	return r, nil
}
