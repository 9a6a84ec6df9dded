// Package rauctest is a fake RAUC service for tests: it exports
// de.pengutronix.rauc.Installer on a peer-to-peer D-Bus connection (no bus
// daemon), with two rootfs slots and an appfs slot, and behaves like RAUC
// where the backend depends on it: it installs into the inactive rootfs
// slot, activates it (activate-installed), emits Completed, answers Mark,
// GetSlotStatus, GetPrimary, InspectBundle and the Operation/LastError
// properties; and systemd-logind's Reboot, which starts the primary slot.
//
// A fake bundle is text. Its manifest (Manifest) is in lines
// "compatible=..." and "version=..." (as in the [update] section of RAUC's
// manifest.raucm); without a version line its version is the first word
// of the bundle ("2026.02 bundle"), without a compatible line the
// system's, "posd-board".
package rauctest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// Names of RAUC's service.
const (
	objectPath = dbus.ObjectPath("/")
	iface      = "de.pengutronix.rauc.Installer"
)

// godbus only speaks the client side of the SASL handshake, so both ends
// authenticate against a small relay that plays the server's part, then
// forwards bytes between them. No Hello is sent, so neither end has a
// unique name and every message is delivered.

const guid = "0123456789abcdef0123456789abcdef"

// handshake plays the server side of SASL on c, returning a reader that
// holds whatever followed BEGIN.
func handshake(c net.Conn) (*bufio.Reader, error) {
	r := bufio.NewReader(c)
	if b, err := r.ReadByte(); err != nil || b != 0 {
		return nil, fmt.Errorf("no NUL byte (%v)", err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		var reply string
		switch {
		case line == "AUTH":
			reply = "REJECTED EXTERNAL"
		case strings.HasPrefix(line, "AUTH EXTERNAL"):
			reply = "OK " + guid
		case line == "NEGOTIATE_UNIX_FD":
			reply = "ERROR"
		case line == "BEGIN":
			return r, nil
		default:
			reply = "ERROR"
		}
		if _, err := io.WriteString(c, reply+"\r\n"); err != nil {
			return nil, err
		}
	}
}

// Pipe returns a client and a server connection joined by the relay,
// closed when the test ends.
func Pipe(t testing.TB) (client, server *dbus.Conn) {
	t.Helper()
	ca, cb := net.Pipe()
	sa, sb := net.Pipe()
	go func() {
		var rc, rs *bufio.Reader
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); rc, _ = handshake(cb) }()
		go func() { defer wg.Done(); rs, _ = handshake(sb) }()
		wg.Wait()
		if rc == nil || rs == nil {
			cb.Close()
			sb.Close()
			return
		}
		go func() { io.Copy(sb, rc); sb.Close() }()
		io.Copy(cb, rs)
		cb.Close()
	}()
	auth := func(c net.Conn) (*dbus.Conn, error) {
		conn, err := dbus.NewConn(c)
		if err != nil {
			return nil, err
		}
		return conn, conn.Auth([]dbus.Auth{dbus.AuthExternal("0")})
	}
	var serr error
	done := make(chan struct{})
	go func() { server, serr = auth(sa); close(done) }()
	client, err := auth(ca)
	<-done
	if err != nil || serr != nil {
		t.Fatalf("p2p auth: %v / %v", err, serr)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Service is the fake RAUC on the server end of Pipe.
type Service struct {
	t     testing.TB
	conn  *dbus.Conn
	props *prop.Properties

	mu          sync.Mutex
	slots       map[string]map[string]dbus.Variant
	order       []string
	booted      string
	primary     string
	marks       []string
	matches     []string
	bundles     [][]byte
	inspected   [][]byte
	failWith    string        // the next installation fails with this LastError
	skipInstall bool          // the next installation "succeeds" without touching a slot
	busy        bool          // methods refuse, like RAUC while it installs
	delay       time.Duration // before Completed
	reboots     int           // login1 Reboot calls
}

func NewService(t testing.TB, server *dbus.Conn) *Service {
	f := &Service{t: t, conn: server, booted: "rootfs.0", primary: "rootfs.0",
		order: []string{"rootfs.0", "rootfs.1", "appfs.0"}}
	f.slots = map[string]map[string]dbus.Variant{
		"rootfs.0": {"class": dbus.MakeVariant("rootfs"), "device": dbus.MakeVariant("/dev/mmcblk0p2"), "bootname": dbus.MakeVariant("A"),
			"boot-status": dbus.MakeVariant("good"), "bundle.version": dbus.MakeVariant("2026.01"),
			"installed.timestamp": dbus.MakeVariant("2026-01-01T00:00:00Z"), "installed.count": dbus.MakeVariant(uint32(1))},
		"rootfs.1": {"class": dbus.MakeVariant("rootfs"), "device": dbus.MakeVariant("/dev/mmcblk0p3"), "bootname": dbus.MakeVariant("B"),
			"boot-status": dbus.MakeVariant("good")},
		"appfs.0": {"class": dbus.MakeVariant("appfs"), "device": dbus.MakeVariant("/dev/mmcblk0p4"), "state": dbus.MakeVariant("booted")},
	}
	f.setStates()
	if err := server.Export(f, objectPath, iface); err != nil {
		t.Fatal(err)
	}
	if err := server.Export(busStub{f}, "/org/freedesktop/DBus", "org.freedesktop.DBus"); err != nil {
		t.Fatal(err)
	}
	if err := server.Export(login1{f}, "/org/freedesktop/login1", "org.freedesktop.login1.Manager"); err != nil {
		t.Fatal(err)
	}
	props, err := prop.Export(server, objectPath, prop.Map{iface: {
		"Operation":  {Value: "idle", Emit: prop.EmitTrue},
		"LastError":  {Value: "", Emit: prop.EmitTrue},
		"BootSlot":   {Value: "A", Emit: prop.EmitConst},
		"Compatible": {Value: System, Emit: prop.EmitConst},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.props = props
	return f
}

// setStates derives "state" of the rootfs slots from booted (mu held).
func (f *Service) setStates() {
	for _, n := range []string{"rootfs.0", "rootfs.1"} {
		st := "inactive"
		if n == f.booted {
			st = "booted"
		}
		f.slots[n]["state"] = dbus.MakeVariant(st)
	}
}

type busStub struct{ f *Service }

func (b busStub) AddMatch(rule string) *dbus.Error {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	b.f.matches = append(b.f.matches, "+"+rule)
	return nil
}

func (b busStub) RemoveMatch(rule string) *dbus.Error {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	b.f.matches = append(b.f.matches, "-"+rule)
	return nil
}

func failed(msg string) *dbus.Error {
	return dbus.NewError("org.gtk.GDBus.UnmappedGError.Quark._g_2dio_2derror_2dquark.Code30", []any{msg})
}

func (f *Service) InstallBundle(source string, args map[string]dbus.Variant) *dbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return failed("Already processing a different method")
	}
	b, err := os.ReadFile(source)
	if err != nil {
		return failed("Failed to open bundle: " + err.Error())
	}
	f.bundles = append(f.bundles, b)
	f.props.SetMust(iface, "Operation", "installing")
	fail, skip, delay := f.failWith, f.skipInstall, f.delay
	f.failWith, f.skipInstall = "", false
	go func() {
		time.Sleep(delay)
		f.mu.Lock()
		result := int32(0)
		if fail != "" {
			result = 1
			f.props.SetMust(iface, "LastError", fail)
		} else if !skip {
			target := "rootfs.1"
			if f.booted == "rootfs.1" {
				target = "rootfs.0"
			}
			s := f.slots[target]
			n, _ := s["installed.count"].Value().(uint32)
			sum := sha256.Sum256(b)
			s["installed.count"] = dbus.MakeVariant(n + 1)
			s["installed.timestamp"] = dbus.MakeVariant(time.Now().UTC().Format(time.RFC3339Nano))
			compatible, version := Manifest(b)
			s["bundle.compatible"] = dbus.MakeVariant(compatible)
			s["bundle.version"] = dbus.MakeVariant(version)
			s["sha256"] = dbus.MakeVariant(hex.EncodeToString(sum[:]))
			s["size"] = dbus.MakeVariant(uint64(len(b)))
			s["status"] = dbus.MakeVariant("ok")
			f.primary = target // activate-installed=true
		}
		f.props.SetMust(iface, "Operation", "idle")
		f.mu.Unlock()
		if err := f.conn.Emit(objectPath, iface+".Completed", result); err != nil {
			f.t.Errorf("emit: %v", err)
		}
	}()
	return nil
}

// System is the fake system's compatible (RAUC's Compatible property).
const System = "posd-board"

// Manifest is what a fake bundle says of itself: its compatible and
// version (see the package comment).
func Manifest(b []byte) (compatible, version string) {
	compatible = System
	fields := strings.Fields(string(b))
	if len(fields) > 0 {
		version = fields[0]
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		switch {
		case ok && k == "compatible":
			compatible = v
		case ok && k == "version":
			version = v
		}
	}
	return compatible, version
}

// InspectBundle answers the manifest of the bundle at source, as RAUC's
// does (its "update" dictionary).
func (f *Service) InspectBundle(source string, args map[string]dbus.Variant) (map[string]dbus.Variant, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return nil, failed("already processing a different method")
	}
	b, err := os.ReadFile(source)
	if err != nil {
		return nil, failed("Failed to open bundle: " + err.Error())
	}
	f.inspected = append(f.inspected, bytes.Clone(b))
	compatible, version := Manifest(b)
	sum := sha256.Sum256(b)
	return map[string]dbus.Variant{
		"manifest-hash": dbus.MakeVariant(hex.EncodeToString(sum[:])),
		"update": dbus.MakeVariant(map[string]dbus.Variant{
			"compatible": dbus.MakeVariant(compatible), "version": dbus.MakeVariant(version)}),
	}, nil
}

// Inspected returns the bundles InspectBundle read, in order.
func (f *Service) Inspected() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]byte
	for _, b := range f.inspected {
		out = append(out, bytes.Clone(b))
	}
	return out
}

func (f *Service) Mark(state, id string) (string, string, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return "", "", failed("already processing a different method")
	}
	slot := id
	switch id {
	case "booted":
		slot = f.booted
	case "other":
		slot = "rootfs.1"
		if f.booted == "rootfs.1" {
			slot = "rootfs.0"
		}
	}
	s, ok := f.slots[slot]
	if !ok || s["class"].Value() != "rootfs" {
		return "", "", failed(fmt.Sprintf("No slot with class rootfs and name %s found", id))
	}
	switch state {
	case "good":
		s["boot-status"] = dbus.MakeVariant("good")
	case "bad":
		s["boot-status"] = dbus.MakeVariant("bad")
	case "active":
		f.primary = slot
	default:
		return "", "", failed("unknown state " + state)
	}
	f.marks = append(f.marks, state+" "+slot)
	return slot, "marked slot " + slot + " as " + state, nil
}

type slotStatus struct {
	Name string
	Info map[string]dbus.Variant
}

func (f *Service) GetSlotStatus() ([]slotStatus, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return nil, failed("already processing a different method")
	}
	var out []slotStatus
	for _, n := range f.order {
		m := map[string]dbus.Variant{}
		for k, v := range f.slots[n] {
			m[k] = v
		}
		out = append(out, slotStatus{n, m})
	}
	return out, nil
}

func (f *Service) GetPrimary() (string, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.primary, nil
}

// Reboot starts the primary slot, as the boot loader would.
func (f *Service) Reboot() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.booted = f.primary
	f.setStates()
}

// login1 is systemd-logind's manager on the same connection: its Reboot
// is the boot loader starting the primary slot (Service.Reboot).
type login1 struct{ f *Service }

func (l login1) Reboot(interactive bool) *dbus.Error {
	l.f.mu.Lock()
	l.f.reboots++
	l.f.mu.Unlock()
	l.f.Reboot()
	return nil
}

// Reboots is the number of reboots asked of systemd-logind.
func (f *Service) Reboots() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reboots
}

// Booted and Primary are the boot loader's state.
func (f *Service) Booted() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.booted
}

// Primary is the slot the next boot starts.
func (f *Service) Primary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.primary
}

// BootStatus is a slot's "boot-status".
func (f *Service) BootStatus(slot string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, _ := f.slots[slot]["boot-status"].Value().(string)
	return v
}

// TakeMarks returns the Mark calls so far ("state slot, ...") and forgets
// them.
func (f *Service) TakeMarks() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.marks, ", ")
	f.marks = nil
	return s
}

// Matches are the AddMatch ("+rule") and RemoveMatch ("-rule") calls.
func (f *Service) Matches() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.matches...)
}

// Bundles returns the bundles InstallBundle read, in order.
func (f *Service) Bundles() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]byte
	for _, b := range f.bundles {
		out = append(out, bytes.Clone(b))
	}
	return out
}

// FailNext makes the next installation fail with lastError.
func (f *Service) FailNext(lastError string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWith = lastError
}

// SkipNext makes the next installation report success without writing a
// slot.
func (f *Service) SkipNext() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skipInstall = true
}

// SetBusy makes the methods refuse ("already processing") and sets
// Operation to "installing" (or back to "idle").
func (f *Service) SetBusy(busy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy = busy
	op := "idle"
	if busy {
		op = "installing"
	}
	f.props.SetMust(iface, "Operation", op)
}

// SetDelay delays Completed after InstallBundle.
func (f *Service) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}
