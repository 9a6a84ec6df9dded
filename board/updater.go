package board

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/godbus/dbus/v5"

	"posd/board/rauc"
)

// systemd-logind's manager, which reboots the system.
const (
	login1Name   = "org.freedesktop.login1"
	login1Path   = dbus.ObjectPath("/org/freedesktop/login1")
	login1Reboot = "org.freedesktop.login1.Manager.Reboot"
)

// ErrUpdater: the profile names no firmware updater this build can open,
// or its slots are misnamed.
var ErrUpdater = errors.New("board: firmware updater")

// UpdaterOptions configure OpenUpdater.
type UpdaterOptions struct {
	// Spool is where a bundle is written before RAUC installs it: a
	// directory RAUC can read (not posd's private /tmp).
	Spool string
	// Logger; nil discards.
	Logger *slog.Logger
}

// Updater is the firmware updater of a real board: RAUC over the D-Bus
// system bus (the methods of terminal/slots' Updater and BootReporter,
// from rauc.Backend) and the reboot that starts the slot the boot loader
// was told to start (systemd-logind over the same bus).
type Updater struct {
	*rauc.Backend
	// Slots are the profile's A/B slot names.
	Slots [2]string
	conn  *dbus.Conn
}

// OpenUpdater connects to the system bus for the profile's updater; it
// returns nil and no error for a profile without one on the system
// (UpdaterDir or none: the simulated board's slots are directories).
func OpenUpdater(p Profile, o UpdaterOptions) (*Updater, error) {
	switch p.Updater {
	case "", UpdaterDir:
		return nil, nil
	case UpdaterRAUC:
	default:
		return nil, fmt.Errorf("%w: unknown updater %q of board %s", ErrUpdater, p.Updater, p.Name)
	}
	if _, err := slotClass(p.Slots); err != nil {
		return nil, fmt.Errorf("board %s: %w", p.Name, err)
	}
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("%w: %w: system bus: %w", ErrUpdater, rauc.ErrDBus, err)
	}
	u, err := NewUpdater(conn, p, o)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return u, nil
}

// NewUpdater is OpenUpdater over conn (a system bus connection, or a
// peer-to-peer one to a fake RAUC in tests); Close closes conn.
func NewUpdater(conn *dbus.Conn, p Profile, o UpdaterOptions) (*Updater, error) {
	if p.Updater != UpdaterRAUC {
		return nil, fmt.Errorf("%w: board %s: updater %q is not on D-Bus", ErrUpdater, p.Name, p.Updater)
	}
	class, err := slotClass(p.Slots)
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", p.Name, err)
	}
	b := rauc.New(conn, rauc.Options{Spool: o.Spool, Class: class, Logger: o.Logger})
	return &Updater{Backend: b, Slots: p.Slots, conn: conn}, nil
}

// slotClass is the RAUC class of both slot names ("rootfs" of
// "rootfs.0").
func slotClass(slots [2]string) (string, error) {
	var class [2]string
	for i, s := range slots {
		c, _, ok := strings.Cut(s, ".")
		if !ok || c == "" {
			return "", fmt.Errorf("%w: slot name %q is not CLASS.N", ErrUpdater, s)
		}
		class[i] = c
	}
	if class[0] != class[1] || slots[0] == slots[1] {
		return "", fmt.Errorf("%w: slots %q are not one A/B pair", ErrUpdater, slots)
	}
	return class[0], nil
}

// Reboot asks systemd-logind to reboot the system (posd gets SIGTERM and
// stops cleanly like at any shutdown); the boot loader then starts the
// slot RAUC marked active.
func (u *Updater) Reboot(ctx context.Context) error {
	c := u.conn.Object(login1Name, login1Path).CallWithContext(ctx, login1Reboot, 0, false)
	if c.Err != nil {
		return fmt.Errorf("%w: %w: reboot: %w", ErrUpdater, rauc.ErrDBus, c.Err)
	}
	return nil
}
