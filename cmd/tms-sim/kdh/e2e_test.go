package kdh_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/cmd/tms-sim/kdh"
	"posd/conn/clock"
	"posd/crypto/dukpt"
	"posd/crypto/keystore"
	"posd/crypto/tr34"
	"posd/terminal/devid"
	"posd/terminal/dukptkeys"
	"posd/terminal/host"
	"posd/terminal/keyload"
	"posd/terminal/wiresec"
)

// The acceptance tests of remote key loading: fresh terminals, each a
// device identity, a key store, a nonce store and a DUKPT slot on its own
// bbolt file, load their keys from the KDH over HTTP, and then transact
// with the acquirer, which knows nothing but the TEST BDK.

var epoch = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type journalLine struct {
	Op           string `json:"op"`
	TerminalID   string `json:"terminal_id"`
	DeviceSerial string `json:"device_serial"`
	DeviceFP     string `json:"device_fp"`
	DUKPT        string `json:"dukpt"`
	Outcome      string `json:"outcome"`
	Status       int    `json:"status"`
	Reason       string `json:"reason"`
	KBPKKCV      string `json:"kbpk_kcv"`
	IKKCV        string `json:"ik_kcv"`
	IKSN         string `json:"iksn"`
}

func (s *syncBuffer) lines(t *testing.T) []journalLine {
	t.Helper()
	var out []journalLine
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var l journalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("journal line is not JSON: %v", err)
		}
		out = append(out, l)
	}
	return out
}

// kdhServer is a KDH on loopback.
type kdhServer struct {
	*httptest.Server
	kdh     *kdh.Server
	journal *syncBuffer
}

func startKDH(t *testing.T, o kdh.Opts) *kdhServer {
	t.Helper()
	j := &syncBuffer{}
	o.Journal = j
	if o.Clock == nil {
		o.Clock = clock.NewFake(epoch)
	}
	k, err := kdh.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(k)
	t.Cleanup(func() {
		srv.Close()
		k.Close()
		if err := k.JournalErr(); err != nil {
			t.Error(err)
		}
	})
	return &kdhServer{Server: srv, kdh: k, journal: j}
}

// recorder keeps the bodies of the exchanges that pass through it.
type recorder struct {
	mu         sync.Mutex
	reqs, resp [][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(rb))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs, r.resp = append(r.reqs, b), append(r.resp, rb)
	return res, nil
}

func (r *recorder) last(t *testing.T) (keyload.KeysRequest, keyload.KeysResponse) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var req keyload.KeysRequest
	var res keyload.KeysResponse
	if err := json.Unmarshal(r.reqs[len(r.reqs)-1], &req); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.resp[len(r.resp)-1], &res); err != nil {
		t.Fatal(err)
	}
	return req, res
}

// terminal is a fresh simulated terminal's key handling on its own bbolt
// file.
type terminal struct {
	path   string
	mode   wiresec.Mode
	db     *bbolt.DB
	ks     *keystore.Store
	id     *devid.Stored
	nonces *devid.Nonces
	src    *dukptkeys.Source
	l      *keyload.Loader
}

var terminalKEK = bytes.Repeat([]byte{0x7E}, 32)

func newTerminal(t *testing.T, serial string, mode wiresec.Mode, f devid.Factory) *terminal {
	t.Helper()
	tm := &terminal{path: filepath.Join(t.TempDir(), "posd.db"), mode: mode}
	tm.open(t)
	id, err := devid.Open(context.Background(), tm.ks, f, &devid.Opts{Serial: serial})
	if err != nil {
		t.Fatal(err)
	}
	tm.id = id
	return tm
}

// open opens (or reopens, after a restart) the terminal's stores.
func (tm *terminal) open(t *testing.T) {
	t.Helper()
	db, err := bbolt.Open(tm.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kek, err := keystore.NewStaticKEK(terminalKEK)
	if err != nil {
		t.Fatal(err)
	}
	if tm.ks, err = keystore.Open(db, kek, nil); err != nil {
		t.Fatal(err)
	}
	if tm.nonces, err = devid.OpenNonces(db, &devid.NonceOpts{Clock: clock.NewFake(epoch)}); err != nil {
		t.Fatal(err)
	}
	tm.src = dukptkeys.New(tm.ks, tm.mode, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	tm.l = &keyload.Loader{Keys: tm.ks, DUKPT: tm.src}
	tm.db = db
	if tm.id != nil {
		if tm.id, err = devid.Load(tm.ks, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func (tm *terminal) restart(t *testing.T) {
	t.Helper()
	tm.src.Wipe()
	if err := tm.db.Close(); err != nil {
		t.Fatal(err)
	}
	tm.open(t)
}

func pinned(t *testing.T) *x509.CertPool {
	t.Helper()
	p, err := kdh.TestPKI()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.KDHCA)
	return roots
}

func (tm *terminal) remote(t *testing.T, url string, hc *http.Client, id string) keyload.Remote {
	return keyload.Remote{URL: url, HTTP: hc, Device: tm.id, Nonces: tm.nonces, KDHRoots: pinned(t), TerminalID: id,
		Clock: clock.NewFake(epoch)}
}

func manufacturer(t *testing.T) *kdh.Manufacturer {
	t.Helper()
	p, err := kdh.TestPKI()
	if err != nil {
		t.Fatal(err)
	}
	m := p.Manufacturer()
	m.Clock = clock.NewFake(epoch)
	return m
}

func (tm *terminal) kbpkKCV(t *testing.T) string {
	t.Helper()
	e, err := tm.ks.Info(keyload.KBPKName)
	if err != nil {
		return ""
	}
	return e.KCV
}

// hexForms lists the hex forms of a key's 8-byte windows.
func hexForms(k []byte) []string {
	var out []string
	for i := 0; i+8 <= len(k); i += 4 {
		x := hex.EncodeToString(k[i : i+8])
		out = append(out, x, strings.ToUpper(x))
	}
	return out
}

func TestRemoteKeyLoading(t *testing.T) {
	for _, mode := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
		t.Run(string(mode), func(t *testing.T) { remoteKeyLoading(t, mode) })
	}
}

func remoteKeyLoading(t *testing.T, mode wiresec.Mode) {
	ctx := context.Background()
	k := startKDH(t, kdh.Opts{})
	rec := &recorder{}
	hc := &http.Client{Transport: rec}
	tm := newTerminal(t, "SIM-0001", mode, manufacturer(t))

	// A fresh terminal has no keys.
	if _, err := tm.src.Next(); !errors.Is(err, dukptkeys.ErrNotProvisioned) {
		t.Fatalf("fresh terminal: %v", err)
	}
	got, err := tm.l.LoadRemote(ctx, tm.remote(t, k.URL, hc, "T0000001"))
	if err != nil {
		t.Fatal(err)
	}
	if got.KBPKKCV == "" || got.KBPKKCV != tm.kbpkKCV(t) || got.DUKPT.Usage != "B1" || len(got.DUKPT.KCV) != 6 {
		t.Fatalf("loaded %+v, stored KBPK KCV %s", got, tm.kbpkKCV(t))
	}
	wantPrefix := "12345678"
	if mode == wiresec.ModeTDES {
		wantPrefix = "FFFF987654"
	}
	if !strings.HasPrefix(got.DUKPT.KSN, wantPrefix) || len(got.DUKPT.KSN) != 2*mode.KSNLen() {
		t.Fatalf("initial KSN %s", got.DUKPT.KSN)
	}
	kh, err := tm.ks.Header(keyload.KBPKName)
	if err != nil || kh.KeyUsage != "K1" || kh.ModeOfUse != 'D' || kh.Algorithm != 'A' {
		t.Fatalf("stored KBPK %v %v", kh, err)
	}

	// The acquirer, deriving from the TEST BDK alone, agrees with the
	// terminal's first DUKPT session.
	bdk := acquirer.DefaultBDK(mode)
	sess, err := tm.src.Next()
	if err != nil {
		t.Fatal(err)
	}
	ksn := sess.KSN()
	if c, _ := dukpt.KSNCounter(ksn); c != 1 || !strings.HasPrefix(strings.ToUpper(hex.EncodeToString(ksn)), wantPrefix) {
		t.Fatalf("first KSN %X", ksn)
	}
	hostSess, err := wiresec.ForHost(mode, bdk, ksn)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("0200 purchase 12345.00")
	mac, err := sess.MACRequest(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := hostSess.VerifyRequestMAC(msg, mac); err != nil {
		t.Fatalf("the acquirer refuses the terminal's MAC: %v", err)
	}
	pb, err := sess.EncryptPIN("1234", "4761739001010010")
	if err != nil {
		t.Fatal(err)
	}
	if pin, err := hostSess.DecryptPIN(pb, "4761739001010010"); err != nil || pin != "1234" {
		t.Fatalf("the acquirer reads another PIN: %v", err)
	}
	sess.Wipe()
	hostSess.Wipe()

	// A sale with acquirer-sim over ISO 8583, MACs both ways.
	sale(t, tm, mode)

	// The journal: one delivery, by terminal id and device, with KCVs and
	// the initial KSN, never a key.
	lines := k.journal.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d journal lines", len(lines))
	}
	j := lines[0]
	if j.Op != "keys" || j.Outcome != "delivered" || j.Status != 200 || j.TerminalID != "T0000001" || j.DeviceSerial != "SIM-0001" ||
		j.DeviceFP != kdh.Fingerprint(tm.id.Certificate()) || j.DUKPT != string(mode) || j.KBPKKCV != got.KBPKKCV ||
		j.IKKCV != got.DUKPT.KCV || j.IKSN != got.DUKPT.KSN {
		t.Fatalf("journal %+v", j)
	}
	var secrets []string
	if err := tm.ks.Use(keyload.KBPKName, func(kbpk []byte) error { secrets = append(secrets, hexForms(kbpk)...); return nil }); err != nil {
		t.Fatal(err)
	}
	iksn, _ := hex.DecodeString(got.DUKPT.KSN)
	var ik []byte
	if mode == wiresec.ModeAES {
		ik, err = dukpt.AESDeriveIK(bdk, iksn)
	} else {
		ik, err = dukpt.TDESDeriveIK(bdk, iksn)
	}
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, hexForms(ik)...)
	for _, s := range secrets {
		if strings.Contains(k.journal.String(), s) {
			t.Fatal("key material in the KDH journal")
		}
	}

	// Replay: the same token again is refused, before and after a restart,
	// and the KBPK stays.
	req, res := rec.last(t)
	nonce, err := tr34.ParseRandomToken(req.RandomToken)
	if err != nil {
		t.Fatal(err)
	}
	kcv := tm.kbpkKCV(t)
	for _, restart := range []bool{false, true} {
		if restart {
			tm.restart(t)
		}
		_, err := tm.l.LoadKeyToken(res.KeyToken, keyload.TokenOpts{Device: tm.id, KDHRoots: pinned(t), Nonce: nonce,
			Nonces: tm.nonces, Now: epoch})
		if !errors.Is(err, keyload.ErrKeyToken) || !errors.Is(err, devid.ErrNonceUnknown) {
			t.Fatalf("replay (restart %v): %v", restart, err)
		}
		if tm.kbpkKCV(t) != kcv {
			t.Fatal("the replay changed the KBPK")
		}
	}

	// After the restart the DUKPT slot goes on where it was.
	sess, err = tm.src.Next()
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := dukpt.KSNCounter(sess.KSN()); c < 2 {
		t.Fatalf("KSN counter %d after the restart", c)
	}
	sess.Wipe()

	// The KDH kept the KBPK: a new initial key under it (a new KSN) loads
	// without a new token.
	block, iksnHex, err := k.kdh.NewIKBlock(kdh.Fingerprint(tm.id.Certificate()), mode)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := tm.l.LoadBlock(block)
	if err != nil || l2.KSN != iksnHex || l2.KSN == got.DUKPT.KSN {
		t.Fatalf("second initial key: %+v %v", l2, err)
	}

	// A second exchange (a fresh random number) installs a new KBPK.
	got2, err := tm.l.LoadRemote(ctx, tm.remote(t, k.URL, hc, "T0000001"))
	if err != nil {
		t.Fatal(err)
	}
	if got2.KBPKKCV == got.KBPKKCV || got2.KBPKKCV != tm.kbpkKCV(t) {
		t.Fatal("the second exchange did not replace the KBPK")
	}
}

// sale runs a purchase with acquirer-sim on loopback with the terminal's
// next DUKPT session.
func sale(t *testing.T, tm *terminal, mode wiresec.Mode) {
	t.Helper()
	srv, err := acquirer.New(&acquirer.Opts{Mode: mode, Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	}()
	c, err := host.New(&host.Opts{Addr: ln.Addr().String(), ConnectTimeout: 5 * time.Second, ResponseTimeout: 5 * time.Second,
		TerminalID: "T0000001", MerchantID: "M00000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := tm.src.Next()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	res, err := c.Purchase(ctx, host.Purchase{STAN: 1, Amount: 12345_00, Currency: "156", EntryMode: "901",
		Track2: []byte("4761739001010010=25122011143804400000"), Time: epoch}, s)
	if err != nil {
		t.Fatalf("sale: %v", err)
	}
	if !res.Approved() {
		t.Fatalf("sale: response code %q", res.ResponseCode)
	}
}

// TestTokenForAnotherDevice: a token the KDH made for device B (even with
// device A's random number, relayed by someone) does not open on A.
func TestTokenForAnotherDevice(t *testing.T) {
	k := startKDH(t, kdh.Opts{})
	a := newTerminal(t, "SIM-000A", wiresec.ModeAES, manufacturer(t))
	b := newTerminal(t, "SIM-000B", wiresec.ModeAES, manufacturer(t))
	nonce, err := a.nonces.Issue()
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := tr34.RandomToken(nonce)
	body, _ := json.Marshal(keyload.KeysRequest{TerminalID: "T0000001", DeviceChain: [][]byte{b.id.Certificate().Raw},
		RandomToken: rt, DUKPT: "aes"})
	resp, err := k.Client().Post(k.URL+keyload.KeysPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	kr, err := keyload.ParseKeysResponse(rb)
	if err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, rb, err)
	}
	_, err = a.l.LoadKeyToken(kr.KeyToken, keyload.TokenOpts{Device: a.id, KDHRoots: pinned(t), Nonce: nonce, Nonces: a.nonces, Now: epoch})
	if !errors.Is(err, keyload.ErrKeyToken) || !errors.Is(err, tr34.ErrRecipient) {
		t.Fatalf("token for device B opened on A: %v", err)
	}
	if a.kbpkKCV(t) != "" {
		t.Fatal("a KBPK was stored")
	}
	// A's random number was not used up by the refused token.
	if err := a.nonces.Consume(nonce); err != nil {
		t.Fatal(err)
	}
}

// roguePKI is a KDH that is not the acquirer's: its own CA, with the very
// names and serial numbers of the test KDH CA and KDH, trusting the same
// manufacturer CA (so it accepts the terminals).
func roguePKI(t *testing.T) *kdh.PKI {
	t.Helper()
	real, err := kdh.TestPKI()
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := kdh.NewCA(caKey, real.KDHCA.Subject.CommonName, real.KDHCA.SerialNumber.Int64(), real.KDHCA.NotBefore, real.KDHCA.NotAfter)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kdh.NewKDHCert(ca, caKey, key, real.KDH.Subject.CommonName, real.KDH.SerialNumber.Int64(), real.KDH.NotBefore, real.KDH.NotAfter)
	if err != nil {
		t.Fatal(err)
	}
	return &kdh.PKI{ManufacturerCA: real.ManufacturerCA, KDHCA: ca, KDHCAKey: caKey, KDH: cert, KDHKey: key}
}

// TestUnknownHost: a token signed by a host the terminal does not pin is
// refused and installs nothing.
func TestUnknownHost(t *testing.T) {
	rogue := startKDH(t, kdh.Opts{PKI: roguePKI(t)})
	tm := newTerminal(t, "SIM-0002", wiresec.ModeAES, manufacturer(t))
	_, err := tm.l.LoadRemote(context.Background(), tm.remote(t, rogue.URL, rogue.Client(), "T0000002"))
	if !errors.Is(err, keyload.ErrKeyToken) || !errors.Is(err, tr34.ErrSigner) {
		t.Fatalf("token of an unknown host: %v", err)
	}
	if tm.kbpkKCV(t) != "" {
		t.Fatal("a KBPK was stored")
	}
	if _, err := tm.src.Next(); !errors.Is(err, dukptkeys.ErrNotProvisioned) {
		t.Fatalf("DUKPT slot: %v", err)
	}
}

// TestDeviceNotFromManufacturer: the KDH refuses a device certificate its
// manufacturer CA did not issue, and journals it.
func TestDeviceNotFromManufacturer(t *testing.T) {
	k := startKDH(t, kdh.Opts{})
	fakeKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fakeCA, err := kdh.NewCA(fakeKey, "posd TEST manufacturer CA", 1, epoch.Add(-time.Hour), epoch.Add(time.Hour*24*365))
	if err != nil {
		t.Fatal(err)
	}
	tm := newTerminal(t, "SIM-FAKE", wiresec.ModeAES, &kdh.Manufacturer{CA: fakeCA, Key: fakeKey, Clock: clock.NewFake(epoch)})
	_, err = tm.l.LoadRemote(context.Background(), tm.remote(t, k.URL, k.Client(), "T0000003"))
	if !errors.Is(err, keyload.ErrRemote) || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "manufacturer CA") {
		t.Fatalf("device of another manufacturer: %v", err)
	}
	lines := k.journal.lines(t)
	if len(lines) != 1 || lines[0].Outcome != "refused" || lines[0].Status != 403 || lines[0].TerminalID != "T0000003" ||
		lines[0].DeviceFP != kdh.Fingerprint(tm.id.Certificate()) || lines[0].KBPKKCV != "" {
		t.Fatalf("journal %+v", lines)
	}
}

// TestFactoryOverHTTP: the simulated board's factory step through
// tms-sim's test factory, then remote key loading.
func TestFactoryOverHTTP(t *testing.T) {
	k := startKDH(t, kdh.Opts{Factory: true})
	tm := newTerminal(t, "SIM-0003", wiresec.ModeTDES, devid.HTTPFactory{URL: k.URL + kdh.FactoryPath, HTTP: k.Client()})
	if tm.id.Certificate().Subject.SerialNumber != "SIM-0003" {
		t.Fatalf("certificate %v", tm.id.Certificate().Subject)
	}
	if _, err := tm.l.LoadRemote(context.Background(), tm.remote(t, k.URL, k.Client(), "T0000004")); err != nil {
		t.Fatal(err)
	}
	lines := k.journal.lines(t)
	if len(lines) != 2 || lines[0].Op != "certify" || lines[0].Outcome != "certified" || lines[0].DeviceSerial != "SIM-0003" ||
		lines[1].Outcome != "delivered" {
		t.Fatalf("journal %+v", lines)
	}
	// Without Factory the endpoint does not exist.
	plain := startKDH(t, kdh.Opts{})
	resp, err := plain.Client().Post(plain.URL+kdh.FactoryPath, "application/pkcs10", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("factory of a KDH without one: %d", resp.StatusCode)
	}
}
