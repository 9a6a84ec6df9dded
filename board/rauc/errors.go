package rauc

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
var (
	// ErrDBus: the D-Bus call did not reach RAUC or got no answer (no bus,
	// RAUC not running, connection lost, ctx ended). Transient.
	ErrDBus = errors.New("rauc: D-Bus call failed")

	// ErrRefused: RAUC answered a method call with an error; the message
	// carries RAUC's.
	ErrRefused = errors.New("rauc: refused")

	// ErrBusy: RAUC is installing already (Operation is not "idle", or it
	// answered "already processing"). Transient.
	ErrBusy = errors.New("rauc: busy")

	// ErrInstall: RAUC reported a failed installation (Completed with a
	// non-zero result, or the slot's status is not "ok"); the message
	// carries LastError.
	ErrInstall = errors.New("rauc: installation failed")

	// ErrSlot: the slot is unknown, is the booted one, is not of the
	// configured class, RAUC installed into or marked another slot, or no
	// booted slot of the class exists.
	ErrSlot = errors.New("rauc: unexpected slot")

	// ErrManifest: the bundle's manifest (InspectBundle) is not what the
	// caller expected (InstallChecked's check); nothing was installed.
	ErrManifest = errors.New("rauc: bundle manifest refused")

	// ErrProtocol: a reply or signal of an unexpected shape.
	ErrProtocol = errors.New("rauc: unexpected D-Bus reply")
)
