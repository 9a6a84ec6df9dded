package keyload

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"posd/conn/clock"
	"posd/crypto/tr31"
	"posd/crypto/tr34"
)

// Remote key loading in the manner of ANSI X9 TR-34, two-pass: the
// terminal (key receiving device) sends its certificate chain and a fresh
// random number; the key distribution host (KDH) answers with a key token
// (crypto/tr34) holding the KBPK, enveloped to the device key and signed
// by the KDH, and with the DUKPT initial key as a TR-31 B1 block under
// that KBPK. The terminal verifies the token against its pinned KDH CA,
// installs the KBPK exactly as from custodian components, then the
// initial key through LoadBlock.
//
// The exchange is one HTTP request:
//
//	POST {KDH}/v1/rkl/keys                      Content-Type: application/json
//	{"terminal_id":  "T0001",                   the terminal's id (journal only)
//	 "device_chain": ["<base64 DER>", ...],     device certificate first, then the manufacturer CAs
//	 "random_token": "<base64 DER>",            tr34 random number token (RT_KRD)
//	 "dukpt":        "aes" | "tdes"}            the terminal's DUKPT mode
//
//	200 {"key_token": "<base64 DER>",           tr34 key token (KT_KDH): the KBPK
//	     "ik_block":  "D0144B1AX00N0200IK10..."} TR-31 B1 block under that KBPK
//	4xx/5xx {"error": "short reason"}

// KeysPath is the KDH's endpoint of the exchange.
const KeysPath = "/v1/rkl/keys"

// Bounds of the exchange's bodies.
const (
	MaxKeysRequest  = 32 << 10
	MaxKeysResponse = 2*tr34.MaxTokenLen + 2*tr31.MaxLength
)

// KeysRequest is the terminal's half of the exchange. []byte fields are
// base64 in JSON.
type KeysRequest struct {
	TerminalID  string   `json:"terminal_id"`
	DeviceChain [][]byte `json:"device_chain"`
	RandomToken []byte   `json:"random_token"`
	DUKPT       string   `json:"dukpt"`
}

// KeysResponse is the KDH's answer.
type KeysResponse struct {
	KeyToken []byte `json:"key_token"`
	IKBlock  string `json:"ik_block"`
}

// ParseKeysResponse reads a KDH's answer: a JSON object with a key token
// of at most tr34.MaxTokenLen bytes and a TR-31 block of printable ASCII.
// Errors: ErrRemote.
func ParseKeysResponse(body []byte) (*KeysResponse, error) {
	if len(body) > MaxKeysResponse {
		return nil, fmt.Errorf("%w: a response of %d bytes", ErrRemote, len(body))
	}
	var r KeysResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: the response is not a keys response", ErrRemote)
	}
	// One object and nothing after it (dec.More alone lets a stray '}'
	// or ']' through).
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the response", ErrRemote)
	}
	if len(r.KeyToken) == 0 || len(r.KeyToken) > tr34.MaxTokenLen {
		return nil, fmt.Errorf("%w: a key token of %d bytes", ErrRemote, len(r.KeyToken))
	}
	if r.IKBlock == "" || len(r.IKBlock) > tr31.MaxLength {
		return nil, fmt.Errorf("%w: a key block of %d characters", ErrRemote, len(r.IKBlock))
	}
	for i := 0; i < len(r.IKBlock); i++ {
		if c := r.IKBlock[i]; c < 0x20 || c > 0x7E {
			return nil, fmt.Errorf("%w: the key block is not printable ASCII", ErrRemote)
		}
	}
	return &r, nil
}

// Device is the terminal's identity as the loader needs it: its
// certificate and private key operation (devid.Identity is one).
type Device interface {
	crypto.Decrypter
	Certificate() *x509.Certificate
}

// NonceConsumer uses up an issued random number once (devid.Nonces).
type NonceConsumer interface {
	Consume(nonce []byte) error
}

// TokenOpts says whom a key token must come from and be for.
type TokenOpts struct {
	Device   Device         // this terminal
	KDHRoots *x509.CertPool // the pinned KDH CA certificates
	Nonce    []byte         // the random number issued for this exchange
	Nonces   NonceConsumer  // where it is used up, once the token verifies
	Now      time.Time      // for the KDH certificates' validity
}

// LoadKeyToken opens a TR-34 key token (crypto/tr34.OpenKeyToken: the
// signer chains to KDHRoots, the signature holds, the random number is
// o.Nonce, the token is enveloped for o.Device), uses up the random number
// (a replayed token is refused, also after a restart), and stores the key
// it carries as the KBPK exactly as LoadKBPK does (usage K1, unwrap only,
// not exportable), replacing any earlier one. The token's key must be a
// key block protection key: usage K0 or K1, mode of use B or D, algorithm
// A (16, 24, 32 bytes) or T (16, 24). Returns the KBPK's KCV. Errors:
// ErrNoKBPK (no key store), ErrKeyToken wrapping why.
func (l *Loader) LoadKeyToken(token []byte, o TokenOpts) (kcv string, err error) {
	if l == nil || l.Keys == nil {
		return "", fmt.Errorf("%w: no key store", ErrNoKBPK)
	}
	alg, key, err := openKeyToken(token, o)
	if err != nil {
		return "", err
	}
	defer clear(key)
	return l.storeKBPK(alg, key, ErrKeyToken)
}

// openKeyToken opens and checks a key token as LoadKeyToken does and uses
// up its random number; it returns the KBPK's algorithm and the key,
// which the caller wipes. Nothing is stored.
func openKeyToken(token []byte, o TokenOpts) (alg byte, key []byte, err error) {
	if o.Device == nil || o.Nonces == nil {
		return 0, nil, fmt.Errorf("%w: no device identity or nonce store", ErrKeyToken)
	}
	tok, err := tr34.OpenKeyToken(token, tr34.VerifyOpts{Roots: o.KDHRoots, Recipient: o.Device.Certificate(),
		Decrypter: o.Device, Nonce: o.Nonce, Now: o.Now})
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrKeyToken, err)
	}
	defer tok.Wipe()
	h := tok.Header
	if (h.KeyUsage != "K0" && h.KeyUsage != "K1") || (h.ModeOfUse != 'B' && h.ModeOfUse != 'D') {
		return 0, nil, fmt.Errorf("%w: key usage %s mode %c; a KBPK is K0 or K1 with mode B or D", ErrKeyToken, h.KeyUsage, h.ModeOfUse)
	}
	if err := o.Nonces.Consume(o.Nonce); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrKeyToken, err)
	}
	return h.Algorithm, bytes.Clone(tok.Key), nil
}

// RemoteDevice is the terminal's identity as the exchange presents it:
// with the manufacturer chain above its certificate (devid.Identity).
type RemoteDevice interface {
	Device
	Chain() []*x509.Certificate
}

// NonceIssuer issues the device's random numbers and uses them up
// (devid.Nonces).
type NonceIssuer interface {
	Issue() ([]byte, error)
	NonceConsumer
}

// Doer sends an HTTP request (*http.Client).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Remote configures one remote key loading exchange.
type Remote struct {
	URL        string         // the KDH's base URL, e.g. "https://tms.example/"
	HTTP       Doer           // nil: an http.Client with a 30 s timeout
	Device     RemoteDevice   // this terminal's identity
	Nonces     NonceIssuer    // this terminal's random numbers
	KDHRoots   *x509.CertPool // the pinned KDH CA certificates
	TerminalID string         // sent for the KDH's journal
	Clock      clock.Clock    // nil: wall clock
}

// RemoteLoaded says what LoadRemote installed; never key bytes.
type RemoteLoaded struct {
	KBPKKCV string // the new KBPK's check value
	DUKPT   Loaded // the DUKPT initial key's usage, KCV and initial KSN
}

// LoadRemote runs the exchange with the KDH at r.URL: a fresh random
// number, the device chain, the answer's key token checked as
// LoadKeyToken checks it and its initial key block as LoadBlock checks
// it, under the token's KBPK. The initial key is loaded first and the
// KBPK stored after it: an answer whose token or initial key is refused
// installs nothing, and the terminal keeps the KBPK it had. Errors:
// ErrNoDUKPT, ErrRemote, and those of LoadKeyToken and LoadBlock.
func (l *Loader) LoadRemote(ctx context.Context, r Remote) (RemoteLoaded, error) {
	if l == nil || l.Keys == nil {
		return RemoteLoaded{}, fmt.Errorf("%w: no key store", ErrNoKBPK)
	}
	if l.DUKPT == nil {
		return RemoteLoaded{}, ErrNoDUKPT
	}
	if r.Device == nil || r.Nonces == nil || r.KDHRoots == nil {
		return RemoteLoaded{}, fmt.Errorf("%w: no device identity, nonce store or pinned KDH CA", ErrRemote)
	}
	nonce, err := r.Nonces.Issue()
	if err != nil {
		return RemoteLoaded{}, fmt.Errorf("%w: issuing a random number: %w", ErrRemote, err)
	}
	rt, err := tr34.RandomToken(nonce)
	if err != nil {
		return RemoteLoaded{}, fmt.Errorf("%w: %w", ErrRemote, err)
	}
	req := KeysRequest{TerminalID: r.TerminalID, RandomToken: rt, DUKPT: string(l.DUKPT.Mode()),
		DeviceChain: [][]byte{r.Device.Certificate().Raw}}
	for _, c := range r.Device.Chain() {
		req.DeviceChain = append(req.DeviceChain, c.Raw)
	}
	resp, err := r.exchange(ctx, req)
	if err != nil {
		return RemoteLoaded{}, err
	}
	alg, kbpk, err := openKeyToken(resp.KeyToken, TokenOpts{Device: r.Device, KDHRoots: r.KDHRoots, Nonce: nonce,
		Nonces: r.Nonces, Now: clock.Or(r.Clock).Now()})
	if err != nil {
		return RemoteLoaded{}, err
	}
	defer clear(kbpk)
	kcv, err := checkKBPK(alg, kbpk, ErrKeyToken)
	if err != nil {
		return RemoteLoaded{}, err
	}
	// The initial key is checked and loaded under the token's KBPK before
	// the KBPK is stored: a delivery whose initial key is refused leaves
	// the terminal's KBPK as it was.
	b, err := checkIKBlock(l.DUKPT.Mode(), kbpkRef{alg: alg, kcv: kcv, whose: "the key token's KBPK"}, resp.IKBlock)
	if err != nil {
		return RemoteLoaded{}, err
	}
	key, loaded, err := b.unwrap(kbpk)
	if err != nil {
		return RemoteLoaded{}, err
	}
	defer clear(key)
	if err := l.DUKPT.Load(key, b.iksn); err != nil {
		return RemoteLoaded{}, fmt.Errorf("keyload: loading the DUKPT slot: %w", err)
	}
	if err := l.Keys.Put(KBPKName, kbpkHeader(alg), kbpk); err != nil {
		// The slot is loaded; only later initial keys need the KBPK.
		return RemoteLoaded{DUKPT: loaded}, fmt.Errorf("keyload: storing the KBPK (the DUKPT slot is loaded): %w", err)
	}
	return RemoteLoaded{KBPKKCV: kcv, DUKPT: loaded}, nil
}

// exchange posts the request and reads the answer.
func (r Remote) exchange(ctx context.Context, kr KeysRequest) (*KeysResponse, error) {
	body, err := json.Marshal(kr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRemote, err)
	}
	url := strings.TrimRight(r.URL, "/") + KeysPath
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRemote, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	doer := r.HTTP
	if doer == nil {
		doer = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := doer.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRemote, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxKeysResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the response: %w", ErrRemote, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: the KDH answered %d: %s", ErrRemote, res.StatusCode, reason(b))
	}
	return ParseKeysResponse(b)
}

// reason is the KDH's short error reason, printable and bounded.
func reason(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		return "no reason given"
	}
	s := []rune(e.Error)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F {
			return -1
		}
		return r
	}, string(s))
}
