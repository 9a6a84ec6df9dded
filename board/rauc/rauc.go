// Package rauc is the firmware updater of real boards: it drives RAUC
// (https://rauc.io) through its D-Bus API, de.pengutronix.rauc.Installer on
// the system bus (object "/"):
//
//	InstallBundle(s source, a{sv} args)   starts an installation
//	InspectBundle(s source, a{sv} args) → a{sv}   the bundle's manifest
//	                                      ("update": compatible, version...)
//	Completed(i result)                   signal: the installation ended (0: success)
//	Mark(s state, s slot) → (s slot, s message)   state "good", "bad" or "active"
//	GetSlotStatus() → a(sa{sv})           per slot: class, state ("booted",
//	                                      "active", "inactive"), boot-status,
//	                                      status, bundle.version, installed.count...
//	GetPrimary() → s                      the slot the boot loader starts next
//	properties Operation ("idle", "installing"), LastError, BootSlot
//
// A Backend has the methods of terminal/slots' Updater and BootReporter
// with standard types only, so the wiring hands it to slots.Open as is;
// board/ never imports terminal/. The boot loader (configured for RAUC,
// with its boot attempt counter) does the actual A/B switch.
package rauc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

// RAUC's D-Bus names.
const (
	BusName    = "de.pengutronix.rauc"
	ObjectPath = dbus.ObjectPath("/")
	Interface  = "de.pengutronix.rauc.Installer"
)

// Options configure a Backend.
type Options struct {
	// Spool is the directory a bundle is written to before RAUC installs
	// it (RAUC reads bundles from a path); default os.TempDir(). RAUC must
	// be able to read it.
	Spool string
	// Class is the slot class of the A/B pair (default "rootfs"); the slot
	// names are RAUC's, e.g. "rootfs.0" and "rootfs.1".
	Class string
	// Logger; nil discards.
	Logger *slog.Logger
}

// Backend talks to RAUC over one D-Bus connection.
type Backend struct {
	conn *dbus.Conn
	obj  dbus.BusObject
	o    Options
	log  *slog.Logger
	mu   sync.Mutex // one installation at a time
}

// New uses conn (a system bus connection, or a peer-to-peer one in tests).
func New(conn *dbus.Conn, o Options) *Backend {
	if o.Spool == "" {
		o.Spool = os.TempDir()
	}
	if o.Class == "" {
		o.Class = "rootfs"
	}
	b := &Backend{conn: conn, obj: conn.Object(BusName, ObjectPath), o: o, log: o.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b
}

// Dial connects to the system bus.
func Dial(o Options) (*Backend, error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("%w: system bus: %w", ErrDBus, err)
	}
	return New(conn, o), nil
}

// Close closes the connection.
func (b *Backend) Close() error { return b.conn.Close() }

// callErr classifies the error of a method call.
func callErr(method string, err error) error {
	var de dbus.Error
	if errors.As(err, &de) {
		msg := de.Error()
		if strings.Contains(msg, "already") {
			return fmt.Errorf("%w: %s: %s", ErrBusy, method, msg)
		}
		return fmt.Errorf("%w: %s: %s", ErrRefused, method, msg)
	}
	return fmt.Errorf("%w: %s: %w", ErrDBus, method, err)
}

// store classifies a failed call, or stores its reply into dst.
func store(c *dbus.Call, method string, dst ...any) error {
	if c.Err != nil {
		return callErr(method, c.Err)
	}
	if err := c.Store(dst...); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtocol, method, err)
	}
	return nil
}

func (b *Backend) call(ctx context.Context, method string, args ...any) *dbus.Call {
	return b.obj.CallWithContext(ctx, Interface+"."+method, 0, args...)
}

// Slot is one entry of GetSlotStatus.
type Slot struct {
	Name     string
	Class    string
	Device   string
	Bootname string
	// State is "booted", "active" (mounted, in use) or "inactive".
	State string
	// BootStatus is the boot loader's "good" or "bad".
	BootStatus string
	// Status is the result of the last installation into the slot ("ok").
	Status         string
	BundleVersion  string
	SHA256         string
	InstalledAt    string
	InstalledCount uint32
}

// SlotStatus returns every slot RAUC knows.
func (b *Backend) SlotStatus(ctx context.Context) ([]Slot, error) {
	var raw []struct {
		Name string
		Info map[string]dbus.Variant
	}
	if err := store(b.call(ctx, "GetSlotStatus"), "GetSlotStatus", &raw); err != nil {
		return nil, err
	}
	out := make([]Slot, 0, len(raw))
	for _, r := range raw {
		s := Slot{Name: r.Name}
		str := func(k string) string {
			v, _ := r.Info[k].Value().(string)
			return v
		}
		s.Class, s.Device, s.Bootname, s.State = str("class"), str("device"), str("bootname"), str("state")
		s.BootStatus, s.Status, s.BundleVersion, s.SHA256 = str("boot-status"), str("status"), str("bundle.version"), str("sha256")
		s.InstalledAt = str("installed.timestamp")
		s.InstalledCount, _ = r.Info["installed.count"].Value().(uint32)
		out = append(out, s)
	}
	return out, nil
}

func (b *Backend) slot(ss []Slot, name string) (Slot, error) {
	for _, s := range ss {
		if s.Name == name {
			if s.Class != b.o.Class {
				return s, fmt.Errorf("%w: %s is of class %q, not %q", ErrSlot, name, s.Class, b.o.Class)
			}
			return s, nil
		}
	}
	return Slot{}, fmt.Errorf("%w: RAUC has no slot %q", ErrSlot, name)
}

// property reads a string property of the Installer.
func (b *Backend) property(ctx context.Context, name string) (string, error) {
	var v dbus.Variant
	c := b.obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, Interface, name)
	if err := store(c, "Get "+name, &v); err != nil {
		return "", err
	}
	s, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("%w: %s is %s, not a string", ErrProtocol, name, v.Signature())
	}
	return s, nil
}

// Operation is RAUC's current operation ("idle", "installing").
func (b *Backend) Operation(ctx context.Context) (string, error) { return b.property(ctx, "Operation") }

// LastError is the message of RAUC's last error.
func (b *Backend) LastError(ctx context.Context) (string, error) { return b.property(ctx, "LastError") }

// Primary is the slot the boot loader starts next.
func (b *Backend) Primary(ctx context.Context) (string, error) {
	var p string
	if err := store(b.call(ctx, "GetPrimary"), "GetPrimary", &p); err != nil {
		return "", err
	}
	return p, nil
}

// BootState returns the booted slot of the class and the primary slot.
func (b *Backend) BootState(ctx context.Context) (booted, primary string, err error) {
	ss, err := b.SlotStatus(ctx)
	if err != nil {
		return "", "", err
	}
	for _, s := range ss {
		if s.Class == b.o.Class && s.State == "booted" {
			booted = s.Name
		}
	}
	if booted == "" {
		return "", "", fmt.Errorf("%w: no booted slot of class %q", ErrSlot, b.o.Class)
	}
	if primary, err = b.Primary(ctx); err != nil {
		return "", "", err
	}
	return booted, primary, nil
}

// mark calls Mark(state, slot) and checks that RAUC marked that slot.
func (b *Backend) mark(ctx context.Context, state, slot string) error {
	var name, msg string
	if err := store(b.call(ctx, "Mark", state, slot), "Mark "+state+" "+slot, &name, &msg); err != nil {
		return err
	}
	if name != slot {
		return fmt.Errorf("%w: asked to mark %s %s, RAUC marked %s (%s)", ErrSlot, slot, state, name, msg)
	}
	b.log.Info("rauc mark", "state", state, "slot", slot, "message", msg)
	return nil
}

// MarkActive makes slot the boot loader's primary (RAUC "active").
func (b *Backend) MarkActive(ctx context.Context, slot string) error {
	return b.mark(ctx, "active", slot)
}

// MarkGood marks slot good: the boot loader stops counting its attempts.
func (b *Backend) MarkGood(ctx context.Context, slot string) error { return b.mark(ctx, "good", slot) }

// MarkBad makes slot unbootable.
func (b *Backend) MarkBad(ctx context.Context, slot string) error { return b.mark(ctx, "bad", slot) }

// Manifest is what a bundle's manifest says of it (its [update] section).
type Manifest struct {
	Compatible  string
	Version     string
	Description string
	Build       string
}

// Inspect asks RAUC what the bundle at path (a file RAUC can read) says
// of itself: InspectBundle, RAUC's D-Bus "rauc info", which also checks
// the bundle's signature.
func (b *Backend) Inspect(ctx context.Context, path string) (Manifest, error) {
	var info map[string]dbus.Variant
	if err := store(b.call(ctx, "InspectBundle", path, map[string]dbus.Variant{}), "InspectBundle", &info); err != nil {
		return Manifest{}, err
	}
	upd, ok := info["update"].Value().(map[string]dbus.Variant)
	if !ok {
		return Manifest{}, fmt.Errorf("%w: InspectBundle: no update section (%s)", ErrProtocol, info["update"].Signature())
	}
	str := func(k string) string {
		v, _ := upd[k].Value().(string)
		return v
	}
	return Manifest{Compatible: str("compatible"), Version: str("version"), Description: str("description"), Build: str("build")}, nil
}

// Install writes the bundle (image, read to io.EOF) to the spool directory
// and has RAUC install it, waiting for its Completed signal. RAUC chooses
// the target itself (the inactive slot of the class): slot must be that
// one, and must show the new installation afterwards. RAUC activates what
// it installed by default (activate-installed); the booted slot is made
// primary again, because the trial only begins with MarkActive. When ctx
// ends first, RAUC may still be installing: the error says so.
func (b *Backend) Install(ctx context.Context, slot string, image io.Reader) error {
	return b.install(ctx, slot, image, nil)
}

// InstallChecked is Install, with the bundle's manifest (Inspect) passed
// to check once the bundle is spooled and before RAUC installs it: an
// error of check stops the installation, no slot written, and is
// returned wrapped (with ErrManifest).
func (b *Backend) InstallChecked(ctx context.Context, slot string, image io.Reader, check func(compatible, version string) error) error {
	if check == nil {
		check = func(string, string) error { return nil }
	}
	return b.install(ctx, slot, image, check)
}

func (b *Backend) install(ctx context.Context, slot string, image io.Reader, check func(compatible, version string) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ss, err := b.SlotStatus(ctx)
	if err != nil {
		return err
	}
	target, err := b.slot(ss, slot)
	if err != nil {
		return err
	}
	if target.State == "booted" {
		return fmt.Errorf("%w: %s is the booted slot", ErrSlot, slot)
	}
	if op, err := b.Operation(ctx); err != nil {
		return err
	} else if op != "idle" {
		return fmt.Errorf("%w: operation %q", ErrBusy, op)
	}

	f, err := os.CreateTemp(b.o.Spool, "posd-*.raucb")
	if err != nil {
		return fmt.Errorf("rauc: spooling the bundle: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, image)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rauc: spooling the bundle: %w", err)
	}
	if check != nil {
		mf, err := b.Inspect(ctx, f.Name())
		if err != nil {
			return err
		}
		if err := check(mf.Compatible, mf.Version); err != nil {
			b.log.Warn("rauc bundle refused", "slot", slot, "compatible", mf.Compatible, "version", mf.Version, "err", err)
			return fmt.Errorf("%w: %w", ErrManifest, err)
		}
	}

	// Listen before starting: Completed may come before InstallBundle's reply.
	ch := make(chan *dbus.Signal, 16)
	b.conn.Signal(ch)
	defer b.conn.RemoveSignal(ch)
	match := []dbus.MatchOption{dbus.WithMatchObjectPath(ObjectPath), dbus.WithMatchInterface(Interface), dbus.WithMatchMember("Completed")}
	if err := b.conn.AddMatchSignalContext(ctx, match...); err != nil {
		return callErr("AddMatch", err)
	}
	defer b.conn.RemoveMatchSignalContext(context.WithoutCancel(ctx), match...)

	b.log.Info("rauc install", "slot", slot, "bundle", f.Name())
	if err := b.call(ctx, "InstallBundle", f.Name(), map[string]dbus.Variant{}).Err; err != nil {
		return callErr("InstallBundle", err)
	}
	if err := b.waitCompleted(ctx, ch); err != nil {
		return err
	}

	ss, err = b.SlotStatus(ctx)
	if err != nil {
		return err
	}
	after, err := b.slot(ss, slot)
	if err != nil {
		return err
	}
	if after.InstalledCount == target.InstalledCount && after.InstalledAt == target.InstalledAt {
		return fmt.Errorf("%w: RAUC did not install into %s", ErrSlot, slot)
	}
	if after.Status != "" && after.Status != "ok" {
		return fmt.Errorf("%w: slot %s status %q", ErrInstall, slot, after.Status)
	}
	var booted string
	for _, s := range ss {
		if s.Class == b.o.Class && s.State == "booted" {
			booted = s.Name
		}
	}
	primary, err := b.Primary(ctx)
	if err != nil {
		return err
	}
	if booted != "" && primary != booted {
		if err := b.mark(ctx, "active", booted); err != nil {
			return fmt.Errorf("rauc: keeping the booted slot primary: %w", err)
		}
	}
	b.log.Info("rauc installed", "slot", slot, "version", after.BundleVersion)
	return nil
}

func (b *Backend) waitCompleted(ctx context.Context, ch <-chan *dbus.Signal) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for Completed (RAUC may still be installing): %w", ErrDBus, ctx.Err())
		case sig, ok := <-ch:
			if !ok {
				return fmt.Errorf("%w: connection closed while installing", ErrDBus)
			}
			if sig.Path != ObjectPath || sig.Name != Interface+".Completed" {
				continue
			}
			if len(sig.Body) != 1 {
				return fmt.Errorf("%w: Completed with %d values", ErrProtocol, len(sig.Body))
			}
			result, ok := sig.Body[0].(int32)
			if !ok {
				return fmt.Errorf("%w: Completed with a %T", ErrProtocol, sig.Body[0])
			}
			if result == 0 {
				return nil
			}
			msg, err := b.LastError(ctx)
			if err != nil {
				msg = "(LastError unreadable: " + err.Error() + ")"
			}
			return fmt.Errorf("%w: result %d: %s", ErrInstall, result, msg)
		}
	}
}
