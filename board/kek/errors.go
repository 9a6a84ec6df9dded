package kek

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
// Messages name devices and files, never key bytes. Every one of them is
// fatal for the daemon: none may be answered by making a new KEK, because a
// new KEK orphans every key already in the key store.
var (
	// ErrSpec: a profile's KEK specification names no known source, or a
	// TPM source without a device.
	ErrSpec = errors.New("kek: invalid KEK source specification")

	// ErrTPMAbsent: the profile's TPM device does not exist and either the
	// profile allows no fallback file, or a sealed KEK in the data
	// directory shows that this KEK lives in a TPM that is missing now.
	ErrTPMAbsent = errors.New("kek: TPM absent")

	// ErrTPM: the TPM is present but a command or the link to it failed
	// (permissions, a hierarchy with an owner password, a TPM in failure
	// mode, a broken transport). Never answered with the fallback file: a
	// TPM that refuses may be under attack.
	ErrTPM = errors.New("kek: TPM refused")

	// ErrTPMMismatch: the sealed KEK was made by another TPM, or this TPM's
	// owner hierarchy was cleared since (its storage primary key differs
	// from the one recorded with the sealed KEK).
	ErrTPMMismatch = errors.New("kek: sealed KEK belongs to another TPM")

	// ErrSealedBlob: the sealed KEK file is damaged or was altered: it does
	// not parse, the TPM refuses to load it, or it unseals to something that
	// is not a 32-byte key.
	ErrSealedBlob = errors.New("kek: sealed KEK damaged or altered")

	// ErrConflict: the TPM source would seal a new KEK while a KEK file
	// from an earlier fallback (or an earlier file profile) is in the data
	// directory: the key store is under that KEK.
	ErrConflict = errors.New("kek: a KEK of another source exists")
)

// orphan is appended to the fatal errors' messages.
const orphan = "posd will not make a new KEK: it would orphan every key in the key store"
