package kek

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// The sealed KEK file kek.tpm:
//
//	magic   8 bytes "POSDKEK1"
//	srk     2-byte big-endian length, then the TPM name of the storage
//	        primary key the object was sealed under
//	public  2-byte length, then the TPMT_PUBLIC of the sealed object
//	private 2-byte length, then its TPM2B_PRIVATE contents (encrypted and
//	        integrity-protected by the TPM)
//
// Nothing follows. The TPM checks the public and private parts when it
// loads them; this format only frames them.
const blobMagic = "POSDKEK1"

// maxBlob bounds the file: the three parts are a few hundred bytes.
const maxBlob = 4096

type blob struct {
	srkName []byte
	public  []byte
	private []byte
}

var errBlobFormat = errors.New("malformed")

func (b blob) marshal() ([]byte, error) {
	var out bytes.Buffer
	out.WriteString(blobMagic)
	for _, p := range [][]byte{b.srkName, b.public, b.private} {
		if len(p) == 0 || len(p) > 0xffff {
			return nil, fmt.Errorf("%w: part of %d bytes", errBlobFormat, len(p))
		}
		binary.Write(&out, binary.BigEndian, uint16(len(p)))
		out.Write(p)
	}
	if out.Len() > maxBlob {
		return nil, fmt.Errorf("%w: %d bytes", errBlobFormat, out.Len())
	}
	return out.Bytes(), nil
}

// parseBlob parses the sealed KEK file's bytes; the parts are copies.
func parseBlob(data []byte) (blob, error) {
	if len(data) > maxBlob {
		return blob{}, fmt.Errorf("%w: %d bytes, at most %d", errBlobFormat, len(data), maxBlob)
	}
	if !bytes.HasPrefix(data, []byte(blobMagic)) {
		return blob{}, fmt.Errorf("%w: not a sealed KEK (bad magic)", errBlobFormat)
	}
	rest := data[len(blobMagic):]
	var parts [3][]byte
	for i, name := range []string{"storage key name", "public part", "private part"} {
		if len(rest) < 2 {
			return blob{}, fmt.Errorf("%w: truncated before the %s", errBlobFormat, name)
		}
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if n == 0 || n > len(rest) {
			return blob{}, fmt.Errorf("%w: %s of %d bytes, %d left", errBlobFormat, name, n, len(rest))
		}
		parts[i] = bytes.Clone(rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return blob{}, fmt.Errorf("%w: %d trailing bytes", errBlobFormat, len(rest))
	}
	return blob{srkName: parts[0], public: parts[1], private: parts[2]}, nil
}
