// Package kdh is the key distribution host (KDH) of tms-sim: remote key
// loading in the manner of ANSI X9 TR-34, two-pass, over HTTP.
//
// A terminal sends its device certificate chain and a fresh random number
// (terminal/keyload.LoadRemote); the KDH checks the device certificate was
// issued by the manufacturer CA, makes a fresh AES-256 key block
// protection key (KBPK) for that device and keeps it, derives a DUKPT
// initial key from the base derivation key (BDK) for an initial KSN it
// never issued before (Opts.Issued carries them over a restart: under one
// BDK, two terminals with one initial KSN would share every key),
// and answers with the KBPK in a TR-34 key token (crypto/tr34: enveloped
// to the device key, signed by the KDH with the terminal's random number)
// and the initial key as a TR-31 B1 block under that KBPK. The terminal
// verifies the token against its pinned KDH CA and installs both.
//
//	POST /v1/rkl/keys              Content-Type: application/json
//	{"terminal_id":  "T0001",                 1 to 32 printable characters (journal only)
//	 "device_chain": ["<base64 DER>", ...],   device certificate first, then intermediates; 1 to 4
//	 "random_token": "<base64 DER>",          the terminal's random number token (tr34.RandomToken)
//	 "dukpt":        "aes" | "tdes"}          the terminal's DUKPT mode
//
//	200 {"key_token": "<base64 DER>",         tr34 key token: the KBPK (K1, AES-256, mode D)
//	     "ik_block":  "D...B1AX00N..."}       TR-31 version D B1 block under the KBPK:
//	                                          aes: algorithm A, optional block IK (initial key ID);
//	                                          tdes: algorithm T, optional block KS (initial KSN)
//	400 {"error": "..."}   malformed request              (ErrRequest)
//	403 {"error": "..."}   device certificate refused     (ErrDevice)
//	405, 413, 500          wrong method, too large, the host failed
//
// The test factory (Opts.Factory; TEST ONLY, see Manufacturer):
//
//	POST /v1/factory/certify       Content-Type: application/pkcs10, a DER PKCS #10 request
//	200 application/pem-certificate-chain: the device certificate, then the manufacturer CA
//	400 {"error": "..."}   request refused                (ErrCSR)
//
// Every request to either endpoint is journaled as one JSON line: time,
// operation, remote address, terminal id, device serial number and
// certificate fingerprint (SHA-256), DUKPT mode, outcome, status, reason,
// and for deliveries the KCVs of the KBPK and the initial key and the
// initial KSN. Never key bytes.
//
// The keys are TEST keys: the PKI is TestPKI (published keys), the BDKs
// default to the published TEST BDKs acquirer-sim uses, so that a terminal
// loaded here transacts with acquirer-sim.
package kdh

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/conn/clock"
	"posd/crypto/dukpt"
	"posd/crypto/keystore"
	"posd/crypto/tr31"
	"posd/crypto/tr34"
	"posd/terminal/keyload"
	"posd/terminal/wiresec"
)

// FactoryPath is the test factory's endpoint.
const FactoryPath = "/v1/factory/certify"

// Limits of a keys request.
const (
	MaxTerminalID = 32
	MaxChain      = 4
	MaxCertLen    = 8 << 10
)

// TestBDKID is the BDK ID (first 4 bytes of the AES initial key ID) of
// the AES initial keys, as in the X9.24-3 test vectors; the 4 bytes after
// it (the derivation ID) are drawn for each delivery.
var TestBDKID = [4]byte{0x12, 0x34, 0x56, 0x78}

// TestKSI is the key set identifier (first 5 bytes of the initial KSN) of
// the TDES initial keys, as in the X9.24-1 test vectors; the 19-bit device
// ID after it is drawn for each delivery.
var TestKSI = [5]byte{0xFF, 0xFF, 0x98, 0x76, 0x54}

// Opts configures a Server.
type Opts struct {
	// PKI: the manufacturer CA whose device certificates are accepted and
	// the KDH certificate and key that sign; nil: TestPKI().
	PKI *PKI
	// BDK per DUKPT mode; a missing mode means the published TEST BDK of
	// acquirer-sim (acquirer.DefaultBDK). AES BDKs are AES-128.
	BDK map[wiresec.Mode][]byte
	// Factory serves the test factory endpoint (FactoryPath).
	Factory bool
	// Journal receives one JSON line per request; nil keeps none.
	Journal io.Writer
	// Issued are initial KSNs issued before (hex, from an earlier run's
	// journal: IssuedFromJournal), never issued again.
	Issued []string
	Clock  clock.Clock  // nil: wall clock
	Rand   io.Reader    // nil: crypto/rand
	Logger *slog.Logger // nil: discard
}

// Server is the KDH's HTTP handler. Safe for concurrent use.
type Server struct {
	pki     *PKI
	bdk     map[wiresec.Mode][]byte
	factory *Manufacturer
	roots   *x509.CertPool
	clk     clock.Clock
	rand    io.Reader
	log     *slog.Logger

	mu   sync.Mutex
	kbpk map[string][]byte // device certificate fingerprint -> its current KBPK
	// issued are the initial KSNs issued (upper-case hex): each is given
	// once, or two terminals would share their keys.
	issued map[string]bool
	jw     io.Writer
	jerr   error
}

// New makes a KDH.
func New(o Opts) (*Server, error) {
	s := &Server{pki: o.PKI, bdk: map[wiresec.Mode][]byte{}, clk: clock.Or(o.Clock), rand: o.Rand, log: o.Logger,
		kbpk: map[string][]byte{}, jw: o.Journal, issued: map[string]bool{}}
	for _, k := range o.Issued {
		s.issued[strings.ToUpper(k)] = true
	}
	if s.pki == nil {
		p, err := TestPKI()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		s.pki = p
	}
	if s.pki.ManufacturerCA == nil || s.pki.KDH == nil || s.pki.KDHKey == nil {
		return nil, fmt.Errorf("%w: the PKI needs a manufacturer CA and a KDH certificate and key", ErrConfig)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, m := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
		b := o.BDK[m]
		if b == nil {
			b = acquirer.DefaultBDK(m)
		}
		if (m == wiresec.ModeAES && len(b) != 16) || (m == wiresec.ModeTDES && len(b) != dukpt.TDESKeyLen) {
			return nil, fmt.Errorf("%w: a %s BDK of %d bytes", ErrConfig, m, len(b))
		}
		s.bdk[m] = bytes.Clone(b)
	}
	s.roots = x509.NewCertPool()
	s.roots.AddCert(s.pki.ManufacturerCA)
	if o.Factory {
		if s.pki.ManufacturerCAKey == nil {
			return nil, fmt.Errorf("%w: the factory needs the manufacturer CA key", ErrConfig)
		}
		s.factory = &Manufacturer{CA: s.pki.ManufacturerCA, Key: s.pki.ManufacturerCAKey, Clock: s.clk}
	}
	return s, nil
}

// Close forgets the KBPKs and BDKs held in memory.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.kbpk {
		clear(v)
		delete(s.kbpk, k)
	}
	for _, b := range s.bdk {
		clear(b)
	}
}

// JournalErr is the first error writing the journal, if any.
func (s *Server) JournalErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jerr
}

// entry is one journal line.
type entry struct {
	Time         string `json:"time"`
	Op           string `json:"op"` // "keys" or "certify"
	Remote       string `json:"remote,omitempty"`
	TerminalID   string `json:"terminal_id,omitempty"`
	DeviceSerial string `json:"device_serial,omitempty"`
	DeviceFP     string `json:"device_fp,omitempty"`
	DUKPT        string `json:"dukpt,omitempty"`
	Outcome      string `json:"outcome"` // "delivered", "certified" or "refused"
	Status       int    `json:"status"`
	Reason       string `json:"reason,omitempty"`
	KBPKKCV      string `json:"kbpk_kcv,omitempty"`
	IKKCV        string `json:"ik_kcv,omitempty"`
	IKSN         string `json:"iksn,omitempty"`
}

func (s *Server) journal(e entry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jw == nil {
		return
	}
	if _, err := s.jw.Write(append(b, '\n')); err != nil && s.jerr == nil {
		s.jerr = err
		s.log.Error("journal write failed", "err", err)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case keyload.KeysPath:
		s.serve(w, r, "keys", s.keys)
	case FactoryPath:
		if s.factory == nil {
			http.NotFound(w, r)
			return
		}
		s.serve(w, r, "certify", s.certify)
	default:
		http.NotFound(w, r)
	}
}

// serve runs one operation: method and size checks, the operation, the
// answer and its journal line.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, op string, fn func(ctx context.Context, body []byte, e *entry) (ctype string, out []byte, err error)) {
	e := entry{Time: s.clk.Now().UTC().Format(time.RFC3339Nano), Op: op}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Remote = host
	}
	fail := func(status int, err error) {
		e.Outcome, e.Status, e.Reason = "refused", status, err.Error()
		s.journal(e)
		s.log.Warn("request refused", "op", op, "status", status, "terminal_id", e.TerminalID, "device_fp", e.DeviceFP, "err", err)
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, fmt.Errorf("%w: method %s", ErrRequest, r.Method))
		return
	}
	limit := int64(keyload.MaxKeysRequest)
	if op == "certify" {
		limit = MaxCSR
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		fail(http.StatusBadRequest, fmt.Errorf("%w: reading the body: %v", ErrRequest, err))
		return
	}
	if int64(len(body)) > limit {
		fail(http.StatusRequestEntityTooLarge, fmt.Errorf("%w: more than %d bytes", ErrRequest, limit))
		return
	}
	ctype, out, err := fn(r.Context(), body, &e)
	switch {
	case errors.Is(err, ErrRequest), errors.Is(err, ErrCSR):
		fail(http.StatusBadRequest, err)
		return
	case errors.Is(err, ErrDevice):
		fail(http.StatusForbidden, err)
		return
	case err != nil:
		fail(http.StatusInternalServerError, err)
		return
	}
	e.Status = http.StatusOK
	s.journal(e)
	s.log.Info("request served", "op", op, "terminal_id", e.TerminalID, "device_fp", e.DeviceFP, "kbpk_kcv", e.KBPKKCV, "iksn", e.IKSN)
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// parseKeysRequest reads and checks a keys request (outside bytes).
func parseKeysRequest(body []byte) (*keyload.KeysRequest, wiresec.Mode, []byte, error) {
	var kr keyload.KeysRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kr); err != nil {
		return nil, "", nil, fmt.Errorf("%w: not a keys request", ErrRequest)
	}
	// One object and nothing after it (dec.More alone lets a stray '}'
	// or ']' through).
	if _, err := dec.Token(); err != io.EOF {
		return nil, "", nil, fmt.Errorf("%w: data after the request", ErrRequest)
	}
	if !printable(kr.TerminalID, MaxTerminalID) {
		return nil, "", nil, fmt.Errorf("%w: terminal_id must be 1 to %d printable characters", ErrRequest, MaxTerminalID)
	}
	if len(kr.DeviceChain) == 0 || len(kr.DeviceChain) > MaxChain {
		return &kr, "", nil, fmt.Errorf("%w: device_chain of %d certificates (1 to %d)", ErrRequest, len(kr.DeviceChain), MaxChain)
	}
	for i, c := range kr.DeviceChain {
		if len(c) == 0 || len(c) > MaxCertLen {
			return &kr, "", nil, fmt.Errorf("%w: certificate %d of %d bytes", ErrRequest, i+1, len(c))
		}
	}
	mode, err := wiresec.ParseMode(kr.DUKPT)
	if err != nil {
		return &kr, "", nil, fmt.Errorf("%w: dukpt must be aes or tdes", ErrRequest)
	}
	nonce, err := tr34.ParseRandomToken(kr.RandomToken)
	if err != nil {
		return &kr, "", nil, fmt.Errorf("%w: random_token: %w", ErrRequest, err)
	}
	return &kr, mode, nonce, nil
}

// verifyDevice checks the device certificate chains to the manufacturer CA.
func (s *Server) verifyDevice(chain [][]byte) (*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(chain))
	for i, b := range chain {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d does not parse", ErrDevice, i+1)
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	dev := certs[0]
	if _, err := dev.Verify(x509.VerifyOptions{Roots: s.roots, Intermediates: inter, CurrentTime: s.clk.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return dev, fmt.Errorf("%w: not issued by the manufacturer CA: %v", ErrDevice, err)
	}
	if dev.KeyUsage != 0 && dev.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return dev, fmt.Errorf("%w: the device key may not encipher keys", ErrDevice)
	}
	return dev, nil
}

// keys serves a keys request.
func (s *Server) keys(_ context.Context, body []byte, e *entry) (string, []byte, error) {
	kr, mode, nonce, err := parseKeysRequest(body)
	if kr != nil {
		if printable(kr.TerminalID, MaxTerminalID) {
			e.TerminalID = kr.TerminalID
		}
		if len(kr.DeviceChain) > 0 {
			e.DeviceFP = fingerprintDER(kr.DeviceChain[0])
		}
	}
	if err != nil {
		return "", nil, err
	}
	e.DUKPT = string(mode)
	dev, err := s.verifyDevice(kr.DeviceChain)
	if dev != nil {
		e.DeviceSerial = dev.Subject.SerialNumber
	}
	if err != nil {
		return "", nil, err
	}

	// A fresh KBPK for this device, kept to wrap its DUKPT initial keys.
	kbpk := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, kbpk); err != nil {
		return "", nil, fmt.Errorf("kdh: random source: %w", err)
	}
	defer clear(kbpk)
	token, err := tr34.BuildKeyToken(tr34.BuildOpts{
		Key:       kbpk,
		Header:    tr31.Header{Version: tr31.VersionD, KeyUsage: "K1", Algorithm: 'A', ModeOfUse: 'D', Exportability: 'N'},
		Recipient: dev,
		Signer:    s.pki.KDHKey,
		KDHChain:  []*x509.Certificate{s.pki.KDH},
		Nonce:     nonce,
		Time:      s.clk.Now(),
		Rand:      s.rand,
	})
	if err != nil {
		if errors.Is(err, tr34.ErrOptions) {
			// The device certificate is one the token cannot be made for
			// (a key too short, not RSA).
			return "", nil, fmt.Errorf("%w: %w", ErrDevice, err)
		}
		return "", nil, fmt.Errorf("kdh: key token: %w", err)
	}
	block, iksn, ikKCV, err := s.ikBlock(kbpk, mode)
	if err != nil {
		return "", nil, err
	}
	e.KBPKKCV, _ = keystore.KCV('A', kbpk)
	e.IKKCV, e.IKSN = ikKCV, iksn
	fp := Fingerprint(dev)
	s.mu.Lock()
	if old := s.kbpk[fp]; old != nil {
		clear(old)
	}
	s.kbpk[fp] = bytes.Clone(kbpk)
	s.mu.Unlock()
	e.Outcome = "delivered"
	out, err := json.Marshal(keyload.KeysResponse{KeyToken: token, IKBlock: block})
	if err != nil {
		return "", nil, fmt.Errorf("kdh: %w", err)
	}
	return "application/json", out, nil
}

// NewIKBlock makes another DUKPT initial key for a device that already
// received a KBPK here (by its certificate fingerprint), wrapped under that
// KBPK: a new initial KSN without a new key token. It returns the TR-31
// block and the initial KSN (hex).
func (s *Server) NewIKBlock(deviceFP string, mode wiresec.Mode) (block, iksn string, err error) {
	s.mu.Lock()
	kbpk := bytes.Clone(s.kbpk[deviceFP])
	s.mu.Unlock()
	defer clear(kbpk)
	if len(kbpk) == 0 {
		return "", "", fmt.Errorf("%w: no KBPK was delivered to that device", ErrDevice)
	}
	block, iksn, _, err = s.ikBlock(kbpk, mode)
	return block, iksn, err
}

// maxKSNDraws bounds the draws of an initial KSN not issued before.
const maxKSNDraws = 1000

// newIKSN draws an initial KSN for mode that was never issued, and marks
// it issued.
func (s *Server) newIKSN(mode wiresec.Mode) ([]byte, error) {
	for range maxKSNDraws {
		var id [4]byte
		if _, err := io.ReadFull(s.rand, id[:]); err != nil {
			return nil, fmt.Errorf("kdh: random source: %w", err)
		}
		var iksn []byte
		switch mode {
		case wiresec.ModeAES:
			iksn = append(append(TestBDKID[:0:0], TestBDKID[:]...), id[:]...)
			iksn = append(iksn, 0, 0, 0, 0)
		case wiresec.ModeTDES:
			iksn = make([]byte, dukpt.TDESKSNLen)
			copy(iksn, TestKSI[:])
			// 19 bits of device ID; the 21-bit counter is zero.
			d := binary.BigEndian.Uint32(id[:]) & 0x7FFFF
			iksn[5], iksn[6], iksn[7] = byte(d>>11), byte(d>>3), byte(d<<5)
		default:
			return nil, fmt.Errorf("%w: DUKPT mode %q", ErrRequest, mode)
		}
		k := strings.ToUpper(hex.EncodeToString(iksn))
		s.mu.Lock()
		fresh := !s.issued[k]
		s.issued[k] = true
		s.mu.Unlock()
		if fresh {
			return iksn, nil
		}
	}
	return nil, fmt.Errorf("kdh: no unused %s initial KSN found in %d draws: the key set is used up", mode, maxKSNDraws)
}

// IssuedFromJournal reads the initial KSNs a journal records as
// delivered (for Opts.Issued). Lines that are not deliveries, or do not
// parse, are skipped.
func IssuedFromJournal(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Op != "keys" || e.Outcome != "delivered" || e.IKSN == "" {
			continue
		}
		out = append(out, e.IKSN)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("kdh: reading the journal: %w", err)
	}
	return out, nil
}

// ikBlock derives an initial key for an initial KSN never issued before
// from the mode's BDK and wraps it under kbpk as a TR-31 B1 block.
func (s *Server) ikBlock(kbpk []byte, mode wiresec.Mode) (block, iksnHex, kcv string, err error) {
	iksn, err := s.newIKSN(mode)
	if err != nil {
		return "", "", "", err
	}
	var (
		ik  []byte
		hdr tr31.Header
	)
	switch mode {
	case wiresec.ModeAES:
		ik, err = dukpt.AESDeriveIK(s.bdk[mode], iksn)
		hdr = tr31.Header{Version: tr31.VersionD, KeyUsage: keyload.UsageDUKPTInitialKey, Algorithm: 'A', ModeOfUse: 'X', Exportability: 'N',
			Blocks: []tr31.OptBlock{{ID: "IK", Data: strings.ToUpper(hex.EncodeToString(iksn[:dukpt.AESIKIDLen]))}, {ID: "KC"}}}
	case wiresec.ModeTDES:
		ik, err = dukpt.TDESDeriveIK(s.bdk[mode], iksn)
		hdr = tr31.Header{Version: tr31.VersionD, KeyUsage: keyload.UsageDUKPTInitialKey, Algorithm: 'T', ModeOfUse: 'X', Exportability: 'N',
			Blocks: []tr31.OptBlock{{ID: "KS", Data: strings.ToUpper(hex.EncodeToString(iksn))}, {ID: "KC"}}}
	default:
		return "", "", "", fmt.Errorf("%w: DUKPT mode %q", ErrRequest, mode)
	}
	if err != nil {
		return "", "", "", fmt.Errorf("kdh: deriving the initial key: %w", err)
	}
	defer clear(ik)
	kcv, err = keystore.KCV(hdr.Algorithm, ik)
	if err != nil {
		return "", "", "", fmt.Errorf("kdh: %w", err)
	}
	masked := 32 // the block does not tell the key's length
	if hdr.Algorithm == 'T' {
		masked = 24
	}
	block, err = tr31.WrapOpts(kbpk, hdr, ik, s.rand, tr31.WrapOptions{MaskedKeyLen: masked})
	if err != nil {
		return "", "", "", fmt.Errorf("kdh: wrapping the initial key: %w", err)
	}
	return block, strings.ToUpper(hex.EncodeToString(iksn)), kcv, nil
}

// certify serves the test factory.
func (s *Server) certify(ctx context.Context, body []byte, e *entry) (string, []byte, error) {
	chain, err := s.factory.Certify(ctx, body)
	if err != nil {
		return "", nil, err
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return "", nil, fmt.Errorf("kdh: %w", err)
	}
	e.DeviceSerial, e.DeviceFP, e.Outcome = leaf.Subject.SerialNumber, Fingerprint(leaf), "certified"
	var out []byte
	for _, c := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return "application/pem-certificate-chain", out, nil
}

func fingerprintDER(der []byte) string {
	c := x509.Certificate{Raw: der}
	return Fingerprint(&c)
}
