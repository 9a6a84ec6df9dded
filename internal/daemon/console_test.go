package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/cmd/tms-sim/repo"
	"posd/crypto/dukpt"
	"posd/crypto/tr31"
	"posd/terminal/engauth"
	"posd/terminal/slots"
	"posd/terminal/store"
	"posd/terminal/store/storetest"
	"posd/terminal/txn"
	"posd/terminal/wiresec"
)

// withheldLine is what the console's output guard prints instead of a
// line that looks like key material (terminal/console/guard.go).
const withheldLine = "[line withheld: it looks like key material]"

// consoleUpdated opens a terminal serving the console that has received
// a parameter bundle and a firmware over the air, booted the firmware on
// trial and committed it: status and ota status then carry the bundle's
// and the slots' SHA-256 digests, returned in hex. It holds one approved
// sale.
func consoleUpdated(t *testing.T) (r *consoleRig, d *Daemon, paramsSum, firmwareSum string) {
	t.Helper()
	ctx := context.Background()
	acq := startAcquirer(t)
	rp, err := repo.New(filepath.Join(t.TempDir(), "repo"), repo.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rp.Handler())
	t.Cleanup(srv.Close)
	root := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(root, rp.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"limits": {"offline": {"floor_limit": 5000}}}}`)
	if err := rp.AddTarget("params/params-2.json", bundle, map[string]any{"kind": "params", "version": 2}); err != nil {
		t.Fatal(err)
	}
	image := []byte("firmware 2")
	if err := rp.AddTarget("firmware/posd-2", image, map[string]any{"kind": "firmware", "version": 2}); err != nil {
		t.Fatal(err)
	}
	ps, fs := sha256.Sum256(bundle), sha256.Sum256(image)
	paramsSum, firmwareSum = hex.EncodeToString(ps[:]), hex.EncodeToString(fs[:])
	if err := rp.Publish(); err != nil {
		t.Fatal(err)
	}
	r = newConsoleRigWith(t, `"host":{"addr":"`+acq+`"},"ota":{"url":"`+srv.URL+`","root":"`+root+`","interval":"1h"}`)
	u := newFakeUpdater()
	open := func() *Daemon {
		d := r.open(WithFirmwareUpdater(u, [2]string{"a", "b"}))
		d.healthTries, d.healthPause = 1, time.Millisecond
		return d
	}

	d = open()
	if err := d.otaRound(ctx); err != nil {
		t.Fatal(err)
	}
	if p := d.Params(); p.Version != 2 || p.SHA256 != paramsSum {
		t.Fatalf("parameters after the update: %+v", p)
	}
	if got := u.take(); !strings.HasSuffix(got, "reboot") {
		t.Fatalf("firmware update at the updater: %q", got)
	}
	closeDaemon(t, d)

	d = open() // the trial boot
	if err := d.CheckTrial(ctx); err != nil {
		t.Fatalf("CheckTrial: %v", err)
	}
	st, err := d.fw.m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Committed != "b" || st.CommittedVersion != "2" {
		t.Fatalf("slots after the trial: %+v", st)
	}
	x := store.Txn{Kind: "purchase", Amount: 1200, Currency: "156", State: store.StateApproved,
		MaskedPAN: "476173******0010", ResponseCode: "00"}
	if err := d.DB.Create(&x); err != nil {
		t.Fatal(err)
	}
	return r, d, paramsSum, firmwareSum
}

// helpCommands are the commands help lists: all of them, or only those
// it marks as allowed ("*") for the session.
func helpCommands(t *testing.T, help string, allowedOnly bool) []string {
	t.Helper()
	isRoles := func(w string) bool {
		for _, r := range strings.Split(w, ",") {
			if r != "anyone" && !engauth.Role(r).Valid() {
				return false
			}
		}
		return true
	}
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(help, "\r", ""), "\n") {
		allowed := strings.HasPrefix(l, "* ")
		if !allowed && !strings.HasPrefix(l, "  ") || allowedOnly && !allowed {
			continue
		}
		f := strings.Fields(l[2:])
		i := slices.IndexFunc(f, isRoles)
		if i < 1 {
			continue
		}
		var name []string
		for _, w := range f[:i] {
			// Arguments: optional ones in brackets, others in capitals.
			if !strings.HasPrefix(w, "[") && strings.ToLower(w) == w {
				name = append(name, w)
			}
		}
		out = append(out, strings.Join(name, " "))
	}
	if len(out) == 0 {
		t.Fatalf("help lists no command: %q", help)
	}
	return out
}

// TestConsoleWithholdsNoLineOfItsOwn runs every command of every role on a
// terminal updated over the air, and checks that the output guard
// withholds none of the lines: the daemon prints no key material, so a
// withheld line is one the field engineer loses for nothing (a digest of
// a firmware image or parameter bundle looks like a key to the guard).
func TestConsoleWithholdsNoLineOfItsOwn(t *testing.T) {
	r, d, paramsSum, firmwareSum := consoleUpdated(t)
	defer closeDaemon(t, d)
	c := attach(t, d)
	defer c.close()

	// talk types line, then answers each prompt of a dialog (pairs of
	// the prompt's end and the answer), and returns what the console
	// printed up to the next command prompt.
	var ran []string
	talk := func(who, line string, dialog ...string) string {
		t.Helper()
		ran = append(ran, who+" "+line)
		c.send(line + "\r")
		c.expect(line + "\r\n") // the echo: what came before is the last command's
		var out strings.Builder
		for i := 0; i+1 < len(dialog); i += 2 {
			out.WriteString(c.expect(dialog[i]))
			c.send(dialog[i+1] + "\r")
		}
		out.WriteString(c.expect("> "))
		s := out.String()
		if strings.Contains(s, withheldLine) {
			t.Errorf("%s: %s: the console withheld a line:\n%s", who, line, s)
		}
		return s
	}
	// covered checks that the session ran every command help allows it.
	covered := func(who string, lines ...string) {
		t.Helper()
		for _, cmd := range helpCommands(t, talk(who, "help"), true) {
			if !slices.ContainsFunc(lines, func(l string) bool { return l == cmd || strings.HasPrefix(l, cmd+" ") }) {
				t.Errorf("%s may run %q: the test does not", who, cmd)
			}
		}
	}

	// Before a login.
	for _, l := range []string{"whoami", "logout"} {
		talk("anyone", l)
	}
	all := helpCommands(t, talk("anyone", "help"), false)
	if len(all) < 20 {
		t.Fatalf("help lists %d commands: %q", len(all), all)
	}
	for _, cmd := range all {
		talk("anyone", "help "+cmd)
	}

	diagnostics := []string{"status", "devices", "selftest", "log", "log 500", "txns", "txns 500", "host test", "sync",
		"params", "ota status", "ota history", "ota check", "aside list", "whoami"}

	r.login(c, "alice", engauth.RoleEngineer)
	for _, l := range diagnostics {
		out := talk("engineer", l)
		// The digests show as their first 12 hex digits, which the field
		// engineer compares with the TMS.
		switch l {
		case "status":
			for _, sum := range []string{paramsSum, firmwareSum} {
				if want := `"sha256": "` + sum[:12] + `..."`; !strings.Contains(out, want) {
					t.Errorf("status shows no %s: %q", want, out)
				}
			}
		case "ota status":
			if want := `"sha256": "` + paramsSum[:12] + `..."`; !strings.Contains(out, want) {
				t.Errorf("ota status shows no %s: %q", want, out)
			}
		}
	}
	talk("engineer", "restart", "confirm: ", "no")
	covered("engineer", slices.Concat(diagnostics, []string{"help", "login", "logout", "restart"})...)
	talk("engineer", "logout")

	// Two custodians load a KBPK and a DUKPT initial key under it.
	compA, compB := make([]byte, 32), make([]byte, 32)
	rand.Read(compA)
	rand.Read(compB)
	r.login(c, "bob", engauth.RoleCustodian)
	for _, l := range []string{"status", "kcv", "audit", "audit 500", "kbpk cancel"} {
		out := talk("custodian", l)
		// The simulated board's test KSN is all decimal digits: shown as
		// a KSN, not masked as track data.
		if ksn := d.Status().KSN; (l == "status" || l == "kcv") && (ksn == "" || !strings.Contains(out, ksn)) {
			t.Errorf("%s does not show the KSN %q: %q", l, ksn, out)
		}
	}
	talk("custodian", "kbpk component", "component: ", hex.EncodeToString(compA), "y/n: ", "y")
	talk("custodian", "whoami")
	talk("custodian", "logout")
	r.login(c, "carol", engauth.RoleCustodian)
	if out := talk("custodian", "kbpk component", "component: ", hex.EncodeToString(compB), "y/n: ", "y"); !strings.Contains(out, "KBPK loaded") {
		t.Fatalf("KBPK load: %q", out)
	}
	kbpk := make([]byte, 32)
	for i := range kbpk {
		kbpk[i] = compA[i] ^ compB[i]
	}
	ikid := "ABCDEF0123456789"
	iksn, _ := hex.DecodeString(ikid + "00000000")
	ik, err := dukpt.AESDeriveIK(acquirer.DefaultBDK(wiresec.ModeAES), iksn)
	if err != nil {
		t.Fatal(err)
	}
	block, err := tr31.Wrap(kbpk, tr31.Header{Version: tr31.VersionD, KeyUsage: "B1", Algorithm: 'A', ModeOfUse: 'X', Exportability: 'N',
		Blocks: []tr31.OptBlock{{ID: "IK", Data: ikid}}}, ik, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if out := talk("custodian", "key load", "key block: ", block); !strings.Contains(out, "loaded") {
		t.Fatalf("key load: %q", out)
	}
	talk("custodian", "kcv")
	talk("custodian", "kbpk component", "component: ", hex.EncodeToString(compA), "y/n: ", "n")
	// The line after a component not confirmed is echoed with its hex
	// digits as '*': the custodian may be typing the form's row again.
	ran = append(ran, "custodian kbpk component")
	c.send("kbpk component\r")
	c.expect("k*pk *ompon*nt\r\n")
	c.expect("component: ")
	c.send(hex.EncodeToString(compA) + "\r")
	c.expect("y/n: ")
	c.send("y\r")
	c.expect("> ")
	talk("custodian", "kbpk cancel")
	covered("custodian", "help", "login", "logout", "whoami", "status", "kcv", "audit", "kbpk component", "kbpk cancel", "key load")
	talk("custodian", "logout")

	r.login(c, "dave", engauth.RoleAdmin)
	for _, l := range slices.Concat(diagnostics, []string{"audit", "audit 500"}) {
		talk("admin", l)
	}
	if out := talk("admin", "aside settle 1 settled T1"); !strings.Contains(out, "not on the list to settle by hand") {
		t.Errorf("aside settle of a transaction not set aside: %q", out)
	}
	covered("admin", slices.Concat(diagnostics, []string{"help", "login", "logout", "audit", "aside settle", "restart", "factory-reset"})...)
	// Last: both end the terminal's life as this test knows it.
	talk("admin", "restart", "confirm: ", "RESTART")
	talk("admin", "factory-reset", "(anything else cancels): ", r.cfg.Terminal.ID) // nothing unsettled: no yes/no
	if len(ran) < 50 {
		t.Fatalf("only %d commands ran", len(ran))
	}
	// The local API (posctl status, posctl ota status) keeps them whole.
	st := d.Status()
	if st.Params == nil || st.Params.SHA256 != paramsSum || st.Firmware == nil || st.Firmware.Slots == nil ||
		!slices.ContainsFunc(st.Firmware.Slots.Slots, func(s slots.SlotInfo) bool { return s.SHA256 == firmwareSum }) {
		t.Errorf("status for the API: params %+v firmware %+v", st.Params, st.Firmware)
	}
	if ost, err := d.OTAStatus(); err != nil || ost.Params == nil || ost.Params.SHA256 != paramsSum {
		t.Errorf("ota status for the API: %+v, %v", ost, err)
	}
}

// TestConsoleRestartEndsSessionAsShutdown: the restart an engineer asks
// for on the console stops the console before the board closes its line,
// so the audit log says the session ended because posd stopped, not that
// the port failed (which on site means a broken cable or UART), and
// posd's log has no warning about it.
func TestConsoleRestartEndsSessionAsShutdown(t *testing.T) {
	r := newConsoleRig(t)
	var logBuf syncBuffer
	d, err := Open(context.Background(), r.cfg, "test", slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := attach(t, d)
	defer c.close()
	r.login(c, "erin", engauth.RoleEngineer)
	c.send("restart\r")
	c.expect("confirm: ")
	c.send("RESTART\r")
	c.expect("restarting")
	select {
	case <-d.RestartRequested():
	case <-time.After(20 * time.Second):
		t.Fatal("no restart requested")
	}
	// cmd/posd then closes the daemon; its signal context has not ended.
	closeDaemon(t, d)
	if s := logBuf.String(); strings.Contains(s, "service console stopped") {
		t.Errorf("posd's log warns about the console on a restart:\n%s", s)
	}

	d = r.open()
	defer closeDaemon(t, d)
	entries, err := d.Console.Audit(20)
	if err != nil {
		t.Fatal(err)
	}
	var ends []string
	for _, e := range entries {
		if e.Event == "logout" || e.Event == "console_stop" {
			ends = append(ends, e.Event+": "+e.Detail)
		}
	}
	if want := []string{"logout: shutdown", "console_stop: shutdown"}; !slices.Equal(ends, want) {
		t.Errorf("the restart's session ended in the audit log as %q, want %q", ends, want)
	}
}

// syncBuffer is a bytes.Buffer a logger and a test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestConsoleRestartAndResetWaitForTheSale: while a sale runs (the
// customer may be at the PIN pad), restart and factory-reset are refused
// with the sale named, as a terminal's maintenance menu does, instead of
// ending the customer's sale, and before the engineer is asked to type a
// confirmation; once it has ended, restart goes ahead.
func TestConsoleRestartAndResetWaitForTheSale(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	tx, err := d.Engine.StartSale(100, "156")
	if err != nil {
		t.Fatal(err)
	}
	c := attach(t, d)
	defer c.close()
	r.login(c, "dave", engauth.RoleAdmin)

	for _, cmd := range []string{"restart", "factory-reset"} {
		c.send(cmd + "\r")
		out := c.expect("> ")
		if !strings.Contains(out, "refused: transaction "+tx.ID+" is in progress") || strings.Contains(out, "confirm") {
			t.Errorf("%s during sale %s: %q", cmd, tx.ID, out)
		}
	}
	select {
	case <-d.RestartRequested():
		t.Fatal("a restart was requested during the sale")
	case <-time.After(2 * restartGrace):
	}
	if got := d.Engine.Active(); got != tx.ID {
		t.Fatalf("the sale in progress is %q, want %s", got, tx.ID)
	}
	if _, err := os.Stat(filepath.Join(r.dir, resetMarker)); !os.IsNotExist(err) {
		t.Fatalf("factory reset marked during the sale: %v", err)
	}

	if err := d.Engine.Cancel(tx.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for d.Engine.Active() != "" {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled sale never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.send("restart\r")
	c.expect("confirm: ")
	c.send("RESTART\r")
	c.expect("restarting")
	select {
	case <-d.RestartRequested():
	case <-time.After(20 * time.Second):
		t.Fatal("no restart once the sale had ended")
	}
}

// TestConsoleTxnsOnAnEmptyTerminal: txns on a terminal without records
// says so, instead of printing an empty line the engineer cannot tell
// from a failed query.
func TestConsoleTxnsOnAnEmptyTerminal(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	c := attach(t, d)
	defer c.close()
	r.login(c, "erin", engauth.RoleEngineer)
	out := c.cmd("txns")
	if !strings.Contains(out, "txns\r\nno transactions\r\n") {
		t.Errorf("txns on an empty terminal: %q", out)
	}
}

// TestConsoleTxnsSaysWhyOneFailed: a failed transaction's line names its
// failure class, never the record's error text (which may quote what
// came in).
func TestConsoleTxnsSaysWhyOneFailed(t *testing.T) {
	r := newConsoleRig(t)
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	storetest.SeedDir(t, r.dir, []store.Txn{{Kind: "purchase", State: store.StateFailed, Amount: 1200, Currency: "156",
		Failure: "card_read_error", Error: "msr: track 2: 4761739001010010 unreadable"}})
	d := r.open()
	defer closeDaemon(t, d)
	c := attach(t, d)
	defer c.close()
	r.login(c, "erin", engauth.RoleEngineer)
	out := c.cmd("txns")
	if !strings.Contains(out, "card_read_error") || strings.Contains(out, "unreadable") || strings.Contains(out, "4761739001010010") {
		t.Errorf("txns with a failed sale: %q", out)
	}
	// The amount as aside list, the slip and the display write it.
	if !strings.Contains(out, "CNY 12.00") {
		t.Errorf("txns does not show the amount as CNY 12.00: %q", out)
	}
}

// TestConsoleParamsShowsTheParametersInUse: once the acquirer's bundle is
// in use, params shows its values (here its offline floor limit, 5000
// over the configuration's 50000) and which bundle it is, as status
// does: not the configuration file's, which the bundle overrides.
func TestConsoleParamsShowsTheParametersInUse(t *testing.T) {
	_, d, paramsSum, _ := consoleUpdated(t)
	defer closeDaemon(t, d)
	if cfg := d.Settings.Risk.Offline.FloorLimit; cfg == 5000 {
		t.Fatalf("the configuration's floor limit is already the bundle's (%d)", cfg)
	}
	out, err := consoleTerminal{d}.Params(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Host   string `json:"host"`
		Params *struct {
			Version int    `json:"version"`
			SHA256  string `json:"sha256"`
		} `json:"params"`
		Risk struct {
			Offline struct {
				FloorLimit int64 `json:"floor_limit"`
			} `json:"offline"`
		} `json:"risk"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("params: %v\n%s", err, out)
	}
	if got.Risk.Offline.FloorLimit != 5000 {
		t.Errorf("params shows the offline floor limit %d, the bundle's in use is 5000:\n%s", got.Risk.Offline.FloorLimit, out)
	}
	if got.Params == nil || got.Params.Version != 2 || got.Params.SHA256 != paramsSum[:12]+"..." {
		t.Errorf("params does not name the bundle in use (version 2, %s...):\n%s", paramsSum[:12], out)
	}
	if got.Host != d.Host.Addr() {
		t.Errorf("params shows host %q, the one in use is %q", got.Host, d.Host.Addr())
	}
}

// TestStatusNamesFailedDevices: status (posctl status, the console's
// status) says which device is missing or failed and why, from the start
// or the last self test, so an engineer sees it without reading the
// device list.
func TestStatusNamesFailedDevices(t *testing.T) {
	r := newConsoleRigWith(t, `"host":{"addr":"127.0.0.1:1"},"sim":{"no_camera":true}`)
	d := r.open()
	defer closeDaemon(t, d)
	st := d.Status()
	if want := "camera: no camera on this board"; len(st.DeviceFaults) != 1 || !strings.HasPrefix(st.DeviceFaults[0], want) {
		t.Errorf("status device faults %q, want one starting %q", st.DeviceFaults, want)
	}
	out, err := consoleTerminal{d}.Status(context.Background())
	if err != nil || !strings.Contains(out, `"device_faults": [`) {
		t.Errorf("console status (%v) shows no device faults:\n%s", err, out)
	}

	whole := newConsoleRig(t)
	d2 := whole.open()
	defer closeDaemon(t, d2)
	if !cvBuild {
		// The nocv build's sim board has no camera, and says so.
		if st := d2.Status(); len(st.DeviceFaults) != 1 || !strings.HasPrefix(st.DeviceFaults[0], "camera:") || !strings.Contains(st.DeviceFaults[0], "nocv") {
			t.Errorf("nocv build: device faults %q, want the camera's alone", st.DeviceFaults)
		}
		return
	}
	if st := d2.Status(); len(st.DeviceFaults) != 0 {
		t.Errorf("a board with every device lists faults %q", st.DeviceFaults)
	}
	if b, _ := json.Marshal(d2.Status()); strings.Contains(string(b), "device_faults") {
		t.Errorf("status of a whole board: %s", b)
	}
}

// TestConsoleLogShowsFacePayIDs: every face-pay log line names the
// platform's session (FS and 24 hex digits) and, once approved, its
// transaction id; the console's log view shows both whole (as the receipt
// shows the transaction id) and still masks a card number.
func TestConsoleLogShowsFacePayIDs(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	const session, platformTxn = "FSE8A4CA1F9AB92615B253D271", "FP000000000001"
	d.Log.Info("face-pay approved", "op", "confirm", "order", "POS00001-000007", "session", session, "platform_txn", platformTxn)
	d.Log.Info("declined", "card", "4761739001010010")
	c := attach(t, d)
	defer c.close()
	r.login(c, "alice", engauth.RoleEngineer)
	c.send("log 20\r")
	out := c.expect("> ")
	if strings.Contains(out, withheldLine) || !strings.Contains(out, "session="+session+" platform_txn="+platformTxn) {
		t.Errorf("log view of a face-pay line: %q", out)
	}
	if strings.Contains(out, "4761739001010010") || !strings.Contains(out, "card=476173******0010") {
		t.Errorf("log view of a card number: %q", out)
	}
}

// TestConsoleUnsettledSaysWhatAResetAbandons: the console's factory-reset
// shows, before it asks anything, how many transactions a reset would
// abandon and their amounts; reading it changes nothing.
func TestConsoleUnsettledSaysWhatAResetAbandons(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	c := consoleTerminal{d}
	if n, what, err := c.Unsettled(context.Background()); err != nil || n != 0 || what != "" {
		t.Fatalf("an empty terminal: %d %q %v", n, what, err)
	}
	batch, _, err := d.Engine.OpenBatch()
	if err != nil {
		t.Fatal(err)
	}
	sale := &store.Txn{Kind: "purchase", Amount: 1200, Currency: "156", State: store.StateApproved, Batch: batch}
	if err := d.DB.Create(sale); err != nil {
		t.Fatal(err)
	}
	rev := &store.Txn{Kind: "purchase", Amount: 300, Currency: "156", State: store.StateReversalPending}
	if err := d.DB.Create(rev); err != nil {
		t.Fatal(err)
	}
	if err := d.DB.Do(func(tx *store.Tx) error { return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: rev.ID}) }); err != nil {
		t.Fatal(err)
	}
	n, what, err := c.Unsettled(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "1 transaction of the open batch not settled (CNY 12.00) and 1 reversal or advice waiting for the host (CNY 3.00)"
	if n != 2 || what != want {
		t.Fatalf("Unsettled: %d %q, want 2 %q", n, what, want)
	}
	if _, err := c.FactoryReset(context.Background(), false); err == nil || !strings.Contains(err.Error(), "close the batch first") {
		t.Fatalf("a reset keeping them: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, resetMarker)); !os.IsNotExist(err) {
		t.Fatalf("reset marker written: %v", err)
	}
}

// TestConsoleOTAWithoutRepository: with no ota.url, ota status and ota
// history say so as a state, not as a failure.
func TestConsoleOTAWithoutRepository(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	for _, what := range []string{"status", "history"} {
		out, err := consoleTerminal{d}.OTA(context.Background(), what)
		if err != nil || out != "no update repository configured (ota.url)" {
			t.Errorf("ota %s: %q, %v", what, out, err)
		}
	}
}

// TestConsoleStatusShowsCurrencyCodes: the console's status names the
// currency of what to settle by hand as everything else on the console
// does (CNY), while the local API keeps the record's numeric code.
func TestConsoleStatusShowsCurrencyCodes(t *testing.T) {
	st := Status{SettleByHand: &HandStatus{Count: 1, First: []txn.SetAside{{ID: "7", Why: txn.AsideFaceNotReversed, Amount: 3000, Currency: "156"}}}}
	out, err := pretty(consoleStatus(st))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"currency": "CNY"`) || strings.Contains(out, `"156"`) {
		t.Errorf("console status: %s", out)
	}
	if st.SettleByHand.First[0].Currency != "156" {
		t.Errorf("the API's status was changed: %+v", st.SettleByHand.First[0])
	}
}
