package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	walletsim "posd/cmd/acquirer-sim/wallet"
	"posd/terminal/wallet"
)

// maxPicture bounds a picture file posctl reads (posd takes up to 4 MiB).
const maxPicture = 4 << 20

// readPicture reads a picture file of at most maxPicture bytes.
func readPicture(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPicture+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPicture {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPicture)
	}
	return b, nil
}

// qrDecode is posctl qr decode --image FILE: posd's QR detector reads the
// picture (posctl itself links no OpenCV, so it starts in milliseconds)
// and answers the first code's kind, masked, and an EMV code's data
// objects with the card data masked.
func (c *cli) qrDecode(args []string) (int, error) {
	fs := flag.NewFlagSet("qr decode", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("image", "", "")
	if err := fs.Parse(args); err != nil || *file == "" || fs.NArg() > 0 {
		return 1, usageErr("qr")
	}
	pic, err := readPicture(*file)
	if err != nil {
		return 1, err
	}
	return c.show("POST", "/v1/qr/decode", map[string]any{"image": pic})
}

// simQR is posctl sim qr: a code or a picture shown to the sim board.
func (c *cli) simQR(args []string) (int, error) {
	fs := flag.NewFlagSet("sim qr", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	code := fs.String("code", "", "")
	file := fs.String("image", "", "")
	to := fs.String("to", "", "")
	card := fs.String("card", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 1, usageErr("sim qr")
	}
	n := 0
	for _, s := range []string{*code, *file, *card} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return 1, usageErr("sim qr")
	}
	req := map[string]any{}
	if *card != "" {
		req["card"] = *card
	}
	if *to != "" {
		req["to"] = *to
	}
	switch {
	case *card != "":
	case *code != "":
		req["code"] = *code
	default:
		pic, err := readPicture(*file)
		if err != nil {
			return 1, err
		}
		req["image"] = pic
	}
	return c.show("POST", "/v1/sim/qr", req)
}

// phoneView is what posctl sim phone prints.
type phoneView struct {
	Platform      wallet.Platform `json:"platform"`
	ReadFrom      string          `json:"read_from"`
	OrderID       string          `json:"order_id,omitempty"`
	Status        wallet.Status   `json:"status,omitempty"`
	PlatformTxnID string          `json:"platform_txn_id,omitempty"`
	Code          string          `json:"code,omitempty"`
	Reason        string          `json:"reason,omitempty"`
}

// simPhone is posctl sim phone: the customer's phone scans the code on
// the customer display and pays it through its wallet platform.
func (c *cli) simPhone(args []string) (int, error) {
	fs := flag.NewFlagSet("sim phone", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	platform := fs.String("platform", "unionpay", "")
	walletURL := fs.String("wallet", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || !wallet.Platform(*platform).Valid() {
		return 1, usageErr("sim phone")
	}
	if *walletURL == "" {
		var st struct {
			Wallet string `json:"wallet"`
		}
		if _, err := c.call("GET", "/v1/status", nil, &st); err != nil {
			return 1, err
		}
		if st.Wallet == "" {
			return 1, errors.New("posd has no wallet platforms (wallet.url); give --wallet URL")
		}
		*walletURL = st.Wallet
	}
	// The phone looks at the customer display: the page's screen, and
	// the code's picture.
	var screen struct {
		Code string `json:"code"`
	}
	if _, err := c.getPlain("/display.json", &screen); err != nil {
		return 1, err
	}
	if screen.Code == "" {
		return 1, errors.New("the customer display shows no merchant code (start a sale with --method mpm)")
	}
	v := phoneView{Platform: wallet.Platform(*platform), ReadFrom: "display picture"}
	pic, err := c.getPlain("/display/qr.png", nil)
	if err != nil {
		return 1, err
	}
	// The phone's camera is posd's QR detector, reading the display's
	// picture; a posd without OpenCV has none: the phone then takes the
	// code the page draws.
	var dec struct {
		Payload string `json:"mpm_payload"`
	}
	_, err = c.call("POST", "/v1/qr/decode", map[string]any{"image": pic}, &dec)
	var refused *apiError
	switch {
	case errors.As(err, &refused) && refused.Status == http.StatusNotImplemented:
		dec.Payload, v.ReadFrom = screen.Code, "display text (posd without OpenCV)"
	case err != nil:
		return 1, fmt.Errorf("the code on the customer display: %w", err)
	case dec.Payload == "":
		return 1, errors.New("the phone could not read a merchant code on the customer display")
	}
	payload := dec.Payload
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := walletsim.PhonePay(ctx, *walletURL, wallet.Platform(*platform), payload, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return 1, err
	}
	v.OrderID, v.Status, v.PlatformTxnID, v.Code, v.Reason = resp.OrderID, resp.Status, resp.PlatformTxnID, resp.Code, resp.Reason
	raw, err := json.Marshal(v)
	if err != nil {
		return 1, err
	}
	if err := c.print(raw); err != nil {
		return 1, err
	}
	if resp.Code != "" {
		return exitNotApproved, nil
	}
	return 0, nil
}

// getPlain fetches a kiosk path (no token, no JSON error form); v, when
// not nil, receives the decoded JSON.
func (c *cli) getPlain(path string, v any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.api+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("posd not reachable at %s: %w", c.api, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPicture))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("GET %s: %w", path, err)
		}
	}
	return b, nil
}
