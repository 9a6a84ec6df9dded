package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"posd/board/sim/facescene"
	"posd/cmd/acquirer-sim/acquirer"
	simfacepay "posd/cmd/acquirer-sim/facepay"
	"posd/cmd/acquirer-sim/wallet"
	"posd/crypto/dukpt"
	"posd/crypto/faceseal"
	"posd/terminal/facepay"
	"posd/terminal/host"
	twallet "posd/terminal/wallet"
	"posd/terminal/wiresec"
)

// The test binary doubles as the command when this variable is set.
func TestMain(m *testing.M) {
	if os.Getenv("ACQUIRER_SIM_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCommandServesAndStopsOnSIGTERM(t *testing.T) {
	for _, dialect := range []string{"ascii87", "cup"} {
		t.Run(dialect, func(t *testing.T) { commandServes(t, dialect) })
	}
}

func commandServes(t *testing.T, dialect string) {
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-listen", "127.0.0.1:0", "-mode", "tdes",
		"-dialect", dialect, "-tpdu", "6000010000", "-journal", journal, "-log-level", "warn")
	cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	sc := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			addr = a
		}
	}
	if addr == "" {
		t.Fatal("no listening line on stderr")
	}
	go func() { // keep draining stderr
		for sc.Scan() {
		}
	}()

	c, err := host.New(&host.Opts{Addr: addr, Dialect: dialect, TPDU: []byte{0x60, 0, 1, 0, 0}, TerminalID: "T0000009", ResponseTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SignOn(context.Background(), 1); err != nil {
		t.Fatalf("sign-on through the command: %v", err)
	}
	_ = c.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("journal has %d lines, want 2", len(lines))
	}
	var e acquirer.Entry
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Direction != "out" || e.MTI != "0810" || e.TerminalID != "T0000009" || e.ResponseCode != "00" || e.STAN != "000001" ||
		e.Dialect != dialect || e.Kind != "sign_on" {
		t.Fatalf("journal line %s", lines[1])
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-mode", "des"}, {"-bdk", "zz"}, {"-tpdu", "6100010000"}, {"-dialect", "iso93"}, {"-advice-rate", "-1"},
		{"-late-delay", "0s"}, {"-late-delay", "-1s"}, {"-slow-delay", "0s"}, {"-slow-delay", "soon"},
		{"-control", "0.0.0.0:0"}, {"-control", "192.0.2.1:8584"}, {"-control", "8584"}} {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "-listen", "127.0.0.1:0"}, args...)...)
		cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: exit status 0", args)
		}
	}
}

// startCommand runs the command with args and returns the address it
// listens on; stop sends SIGTERM and waits for a clean exit.
func startCommand(t *testing.T, args ...string) (addr string, stop func()) {
	t.Helper()
	addr, _, stop = startCommandControl(t, args...)
	return addr, stop
}

// runCommand starts the command on a free port with args (killed when
// the test ends) and returns it with a scanner of its stderr.
func runCommand(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "-listen", "127.0.0.1:0", "-log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, bufio.NewScanner(stderr)
}

// startCommandControl is startCommand that also returns the address of
// the control endpoint ("" when it has none).
func startCommandControl(t *testing.T, args ...string) (addr, control string, stop func()) {
	t.Helper()
	cmd, sc := runCommand(t, args...)
	for addr == "" && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			addr = a
		}
		if a, ok := strings.CutPrefix(sc.Text(), "control on "); ok {
			control = a
		}
	}
	if addr == "" {
		t.Fatal("no listening line on stderr")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return addr, control, func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	}
}

// TestCommandKeepsAdvicesAcrossRestarts: the command reads back the
// advices its -journal shows accepted, so the same advice sent to a
// restarted acquirer-sim is journaled as a duplicate.
func TestCommandKeepsAdvicesAcrossRestarts(t *testing.T) {
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	bdk := acquirer.DefaultBDK(wiresec.ModeTDES)
	iksn := []byte{0xFF, 0xFF, 0x98, 0x76, 0x54, 0x32, 0x10, 0xE0, 0x00, 0x00}
	ik, err := dukpt.TDESDeriveIK(bdk, iksn)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewTDESOriginator(ik, iksn)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Wipe()
	advice := host.Advice{STAN: 7, Ref: "CMD7", Amount: 4200, Currency: "156", EntryMode: "021",
		Track2: []byte("4761739001010010=25122011143804400000")}
	for run := range 2 {
		addr, stop := startCommand(t, "-mode", "tdes", "-journal", journal, "-advice-rate", "5")
		c, err := host.New(&host.Opts{Addr: addr, TerminalID: "T0000009", ResponseTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ksn, key, err := o.Next()
		if err != nil {
			t.Fatal(err)
		}
		s, err := wiresec.ForTerminal(wiresec.ModeTDES, ksn, key)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Advice(context.Background(), advice, s)
		s.Wipe()
		if err != nil || res.ResponseCode != host.AdviceAccepted {
			t.Fatalf("run %d: %+v %v", run+1, res, err)
		}
		_ = c.Close()
		stop()
	}
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	var dups []bool
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e acquirer.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Kind == "advice" && e.Direction == "in" {
			if e.Ref != "CMD7" || e.ResponseCode != "00" || e.TerminalID != "T0000009" || e.MaskedPAN != "476173******0010" {
				t.Fatalf("journal line %s", line)
			}
			dups = append(dups, e.Duplicate)
		}
	}
	if len(dups) != 2 || dups[0] || !dups[1] {
		t.Fatalf("advice lines duplicate=%v, want [false true]", dups)
	}
	if strings.Contains(string(data), "4761739001010010") {
		t.Fatal("journal holds the PAN")
	}
}

// TestCommandFaultDelays: -late-delay and -slow-delay reach the server
// (here both shorter than the client's timeout, so both answers are
// seen; with the defaults, 15s and 1s, the bounds would not hold).
func TestCommandFaultDelays(t *testing.T) {
	addr, stop := startCommand(t, "-late-delay", "300ms", "-slow-delay", "100ms")
	defer stop()
	c, err := host.New(&host.Opts{Addr: addr, TerminalID: "T0000009", ResponseTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	iksn := []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 0}
	ik, err := dukpt.AESDeriveIK(acquirer.DefaultBDK(wiresec.ModeAES), iksn)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewAESOriginator(ik, iksn)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Wipe()
	for i, tc := range []struct {
		amount   int64
		min, max time.Duration
	}{{1098, 100 * time.Millisecond, 900 * time.Millisecond}, {1095, 300 * time.Millisecond, 5 * time.Second}} {
		ksn, key, err := o.Next()
		if err != nil {
			t.Fatal(err)
		}
		s, err := wiresec.ForTerminal(wiresec.ModeAES, ksn, key)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := c.Purchase(context.Background(), host.Purchase{STAN: uint32(i + 1), Amount: tc.amount, Currency: "156",
			EntryMode: "901", Track2: []byte("4761739001010010=25122011143804400000")}, s)
		el := time.Since(start)
		s.Wipe()
		if err != nil || !res.Approved() {
			t.Fatalf("amount %d: %+v %v", tc.amount, res, err)
		}
		if el < tc.min || el >= tc.max {
			t.Fatalf("amount %d answered after %v, want from %v to %v", tc.amount, el, tc.min, tc.max)
		}
	}
}

// TestCommandControlEndpoint: -control serves the control endpoint on
// loopback: a fault armed there drops the next purchase's answer.
func TestCommandControlEndpoint(t *testing.T) {
	addr, control, stop := startCommandControl(t, "-control", "127.0.0.1:0")
	if control == "" {
		t.Fatal("no control line on stderr")
	}
	resp, err := http.Post("http://"+control+"/v1/faults", "application/json",
		strings.NewReader(`{"fault":"drop","kind":"purchase","count":1}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("arming: %s", resp.Status)
	}
	c, err := host.New(&host.Opts{Addr: addr, TerminalID: "T0000009", ResponseTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	iksn := []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 0}
	ik, err := dukpt.AESDeriveIK(acquirer.DefaultBDK(wiresec.ModeAES), iksn)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewAESOriginator(ik, iksn)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Wipe()
	ksn, key, err := o.Next()
	if err != nil {
		t.Fatal(err)
	}
	s, err := wiresec.ForTerminal(wiresec.ModeAES, ksn, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	p := host.Purchase{STAN: 1, Amount: 100, Currency: "156", Track2: []byte("4761739001010010=25122011143804400000")}
	if _, err := c.Purchase(context.Background(), p, s); !errors.Is(err, host.ErrNoResponse) {
		t.Fatalf("purchase with a drop armed: %v", err)
	}
	resp, err = http.Get("http://" + control + "/v1/faults")
	if err != nil {
		t.Fatal(err)
	}
	var armed struct {
		Faults []acquirer.ArmedFault `json:"faults"`
	}
	err = json.NewDecoder(resp.Body).Decode(&armed)
	_ = resp.Body.Close()
	if err != nil || len(armed.Faults) != 0 {
		t.Fatalf("armed after the drop: %+v %v", armed, err)
	}
	stop()
}

// TestCommandFacePlatform: -face serves the face-pay platform on
// loopback with the key of -face-key (created 0600 when missing, the same
// after a restart), its public key written to -face-pub-out and served at
// /face/v1/key, and a face payment of an enrolled customer goes through,
// journaled to -face-journal.
func TestCommandFacePlatform(t *testing.T) {
	dir := t.TempDir()
	keyFile, pubFile, journal := filepath.Join(dir, "face-key.pem"), filepath.Join(dir, "face-pub.pem"), filepath.Join(dir, "face.jsonl")
	var pems [][]byte
	for run := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-listen", "127.0.0.1:0", "-log-level", "warn", "-mode", "tdes",
			"-face", "127.0.0.1:0", "-face-key", keyFile, "-face-pub-out", pubFile, "-face-journal", journal, "-face-limit", "50000")
		cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		sc := bufio.NewScanner(stderr)
		face, listening := "", false
		for !listening && sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "face on "); ok {
				face = a
			}
			listening = strings.HasPrefix(sc.Text(), "listening on ")
		}
		if face == "" || !listening {
			t.Fatalf("run %d: no face or listening line on stderr", run+1)
		}
		go func() {
			for sc.Scan() {
			}
		}()
		st, err := os.Stat(keyFile)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st, err)
		}
		pem, err := os.ReadFile(pubFile)
		if err != nil {
			t.Fatal(err)
		}
		pems = append(pems, pem)
		resp, err := http.Get("http://" + face + facepay.PathKey)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if !bytes.Equal(served, pem) {
			t.Fatalf("served key %q, -face-pub-out %q", served, pem)
		}
		if run == 0 {
			facePayThrough(t, "http://"+face, pem)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	}
	if !bytes.Equal(pems[0], pems[1]) {
		t.Fatal("the platform key changed across a restart")
	}
	j, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, line := range strings.Split(strings.TrimSpace(string(j)), "\n") {
		var e simfacepay.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, e.Op+":"+e.Status+e.Code)
		if e.Op == "identify" && e.Code == "" && (e.SealedEntropy == nil || *e.SealedEntropy < 7.5 || e.JPEGInBody == nil || *e.JPEGInBody) {
			t.Fatalf("identify line %s", line)
		}
	}
	if strings.Join(ops, " ") != "identify:over_limit identify: confirm:approved" {
		t.Fatalf("journal ops %v", ops)
	}
	if bytes.Contains(j, []byte(simfacepay.IdentityOf("alice").Account)) || bytes.Contains(j, []byte{0xFF, 0xD8, 0xFF}) {
		t.Fatal("journal holds the account or a picture")
	}
}

// facePayThrough pays 88.00 by alice's face at the platform at base, whose
// pinned key is pem: over the -face-limit first, then approved with her
// payment password under the TDES test BDK.
func facePayThrough(t *testing.T, base string, pem []byte) {
	t.Helper()
	pub, err := faceseal.ParsePublicKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	c, err := facepay.NewHTTP(facepay.HTTPOpts{BaseURL: base, TerminalID: "T0000009",
		Key: simfacepay.TerminalKey([]byte(simfacepay.TestMasterKey), "T0000009")})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := facescene.New(facescene.Scene{Subject: "alice", Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	bgr := make([]byte, facescene.W*facescene.H*3)
	sc.FrameBGR(2, bgr)
	img := image.NewRGBA(image.Rect(0, 0, facescene.W, facescene.H))
	for i := 0; i < facescene.W*facescene.H; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = bgr[3*i+2], bgr[3*i+1], bgr[3*i], 255
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, simfacepay.CutCrop(img, sc.FaceBox(2), 1.55, image.Pt(0, -8), 160), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	identify := func(order string, amount int64) (facepay.Candidate, error) {
		env, err := faceseal.Seal(pub, jb.Bytes(), facepay.AAD("T0000009", order, amount, "156"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Identify(context.Background(), facepay.IdentifyRequest{OrderID: order, Amount: amount, Currency: "156",
			Sealed: env, ConsentAt: time.Now()})
	}
	if _, err := identify("F1", 50001); !errors.Is(err, facepay.ErrOverLimit) {
		t.Fatalf("over -face-limit: %v", err)
	}
	cand, err := identify("F2", 8800)
	if err != nil {
		t.Fatal(err)
	}
	bdk := acquirer.DefaultBDK(wiresec.ModeTDES)
	iksn := []byte{0xFF, 0xFF, 0x98, 0x76, 0x54, 0x32, 0x10, 0xE0, 0x00, 0x00}
	ik, err := dukpt.TDESDeriveIK(bdk, iksn)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewTDESOriginator(ik, iksn)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Wipe()
	ksn, key, err := o.Next()
	if err != nil {
		t.Fatal(err)
	}
	s, err := wiresec.ForTerminal(wiresec.ModeTDES, ksn, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	block, err := s.EncryptPINDigits([]byte(simfacepay.Password("alice")), facepay.PasswordBinding("T0000009", cand.Session, "F2", 8800, "156"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Confirm(context.Background(), facepay.ConfirmRequest{Session: cand.Session, OrderID: "F2", Amount: 8800, Currency: "156",
		PINBlock: block, KSN: ksn})
	if err != nil || res.Status != facepay.StatusApproved {
		t.Fatalf("confirm: %+v %v", res, err)
	}
}

func TestCommandRejectsBadFaceFlags(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.pem")
	if err := os.WriteFile(loose, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-face", "0.0.0.0:0"}, {"-face", "192.0.2.1:8586"}, {"-face-key", filepath.Join(dir, "k.pem")},
		{"-face-pub-out", filepath.Join(dir, "p.pem")}, {"-face", "127.0.0.1:0", "-face-limit", "0"},
		{"-face", "127.0.0.1:0", "-face-key", loose}, {"-face", "127.0.0.1:0", "-face-key", garbage},
		{"-face", "127.0.0.1:0", "-face-pub-out", filepath.Join(dir, "no", "such", "dir.pem")}} {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "-listen", "127.0.0.1:0"}, args...)...)
		cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: exit status 0", args)
		}
	}
}

// TestCommandKeepsWalletOrdersAcrossRestarts: with -wallet-state the
// wallet platforms know an order paid before a restart (a terminal that
// restarts too queries it after), as real platforms do.
func TestCommandKeepsWalletOrdersAcrossRestarts(t *testing.T) {
	state := filepath.Join(t.TempDir(), "wallet-orders.json")
	for run := range 2 {
		cmd, sc := runCommand(t, "-wallet", "127.0.0.1:0", "-wallet-state", state)
		addr := ""
		for addr == "" && sc.Scan() {
			addr, _ = strings.CutPrefix(sc.Text(), "wallet on ")
		}
		go func() {
			for sc.Scan() {
			}
		}()
		if addr == "" {
			_ = cmd.Process.Kill()
			t.Fatal("no wallet line on stderr")
		}
		c, err := twallet.NewHTTPClient(twallet.Opts{BaseURL: "http://" + addr, TerminalID: "T0000009",
			Key: wallet.TerminalKey([]byte(wallet.TestMasterKey), "T0000009")})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if run == 0 {
			res, err := c.Pay(ctx, twallet.WeChat, twallet.Order{ID: "P1", Amount: 1200, Currency: "156", Code: "134567890123456789"})
			if err != nil || res.Status != twallet.StatusSuccess {
				t.Fatalf("pay: %+v %v", res, err)
			}
			_ = cmd.Process.Kill() // no clean stop: the order must already be on disk
			_ = cmd.Wait()
			continue
		}
		res, err := c.Query(ctx, twallet.WeChat, "P1")
		if err != nil || res.Status != twallet.StatusSuccess {
			t.Fatalf("query after the restart: %+v %v", res, err)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-listen", "127.0.0.1:0", "-wallet-state", state)
	cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
	if err := cmd.Run(); err == nil {
		t.Error("-wallet-state without -wallet: exit status 0")
	}
}

// TestCommandStopsCleanlyRightAfterListening: a SIGTERM sent the moment
// "listening on" is read is a clean stop (exit 0), never a kill: the
// signal is caught before the line is printed.
func TestCommandStopsCleanlyRightAfterListening(t *testing.T) {
	for i := range 20 {
		cmd, sc := runCommand(t)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "listening on ") {
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		go func() {
			for sc.Scan() {
			}
		}()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("stop %d right after listening: %v", i+1, err)
		}
	}
}
