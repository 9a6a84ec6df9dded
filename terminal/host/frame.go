package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/moov-io/iso8583"
	isoerrors "github.com/moov-io/iso8583/errors"
)

// Framer reads and writes length-prefixed messages (see the framing notes in
// spec.go). It implements the MessageReader and MessageWriter interfaces of
// the connection module, so both the terminal client and the acquirer
// simulator frame the same way.
//
// A Framer with a TPDU writes out on every message and expects in on every
// received message (the peer's TPDU: destination and source swapped).
type Framer struct {
	out, in []byte
}

// NewFramer returns the framer of the side that sends tpdu. A nil or empty
// tpdu turns the TPDU off. Otherwise tpdu must be 5 bytes starting with 0x60.
func NewFramer(tpdu []byte) (*Framer, error) {
	if len(tpdu) == 0 {
		return &Framer{}, nil
	}
	if len(tpdu) != TPDULen || tpdu[0] != TPDUID {
		return nil, fmt.Errorf("%w: TPDU must be %d bytes starting with 0x%02X", ErrInvalidRequest, TPDULen, TPDUID)
	}
	out := bytes.Clone(tpdu)
	return &Framer{out: out, in: SwapTPDU(out)}, nil
}

// Peer returns the framer of the other side of the link: it writes the TPDU
// this framer expects and expects the TPDU this framer writes.
func (f *Framer) Peer() *Framer {
	return &Framer{out: bytes.Clone(f.in), in: bytes.Clone(f.out)}
}

// SwapTPDU returns a copy of a 5-byte TPDU with destination and source
// addresses swapped. Other lengths are returned as a plain copy.
func SwapTPDU(t []byte) []byte {
	s := bytes.Clone(t)
	if len(s) == TPDULen {
		s[1], s[2], s[3], s[4] = t[3], t[4], t[1], t[2]
	}
	return s
}

// WriteFrame writes one frame holding msg in a single Write call.
func (f *Framer) WriteFrame(w io.Writer, msg []byte) error {
	n := len(f.out) + len(msg)
	if n > 0xFFFF {
		return fmt.Errorf("%w: message of %d bytes does not fit the length header", ErrInvalidRequest, n)
	}
	buf := make([]byte, 2, 2+n)
	binary.BigEndian.PutUint16(buf, uint16(n))
	buf = append(buf, f.out...)
	buf = append(buf, msg...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("host: writing frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame and returns the ISO message bytes after the
// header and TPDU. A zero-length frame (keep-alive) returns no bytes and no
// error. I/O errors are returned as they are (the stream is lost); a frame
// whose TPDU is wrong returns an error matching ErrMalformed after the whole
// frame has been consumed, so the stream stays in step.
func (f *Framer) ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 {
		return nil, nil
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if len(f.in) > 0 {
		if n < len(f.in) || !bytes.Equal(body[:len(f.in)], f.in) {
			return nil, fmt.Errorf("%w: unexpected TPDU", ErrMalformed)
		}
		body = body[len(f.in):]
	}
	return body, nil
}

// ReadMessage reads and decodes one message. Malformed frames come back as
// *errors.UnpackError of the iso8583 module (wrapping ErrMalformed) so a
// connection keeps reading; a keep-alive returns a nil message.
func (f *Framer) ReadMessage(r io.Reader) (*iso8583.Message, error) {
	raw, err := f.ReadFrame(r)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, &isoerrors.UnpackError{Err: err}
		}
		return nil, err
	}
	if len(raw) == 0 {
		return nil, nil
	}
	msg, err := Decode(raw)
	if err != nil {
		return nil, &isoerrors.UnpackError{Err: err}
	}
	return msg, nil
}

// WriteMessage packs and writes one message.
func (f *Framer) WriteMessage(w io.Writer, m *iso8583.Message) error {
	packed, err := m.Pack()
	if err != nil {
		return &isoerrors.PackError{Err: fmt.Errorf("%w: packing: %w", ErrInvalidRequest, safeErr(err))}
	}
	return f.WriteFrame(w, packed)
}

// Decode unpacks raw with Spec and accepts it only if packing the result
// gives back exactly raw. Any message Decode accepts therefore has one
// encoding, which is what the MAC covers. Errors match ErrMalformed and never
// carry field contents.
func Decode(raw []byte) (*iso8583.Message, error) {
	msg := iso8583.NewMessage(Spec)
	if err := msg.Unpack(raw); err != nil {
		var ue *isoerrors.UnpackError
		if errors.As(err, &ue) && ue.FieldID != "" {
			return nil, fmt.Errorf("%w: field %s does not unpack", ErrMalformed, ue.FieldID)
		}
		return nil, fmt.Errorf("%w: does not unpack", ErrMalformed)
	}
	again, err := msg.Pack()
	if err != nil || !bytes.Equal(again, raw) {
		return nil, fmt.Errorf("%w: not in canonical encoding", ErrMalformed)
	}
	return msg, nil
}

// safeErr drops the text of library errors that may quote field values.
func safeErr(err error) error {
	if err == nil {
		return nil
	}
	return errors.New("field encoding failed")
}

// macFieldFor returns the DE that carries the MAC of m: DE128 when a field
// above 64 is set, DE64 otherwise.
func macFieldFor(m *iso8583.Message) int {
	for id := range m.GetFields() {
		if id > 64 && id != DEMAC2 {
			return DEMAC2
		}
	}
	return DEMAC
}

// Seal sets the MAC field of m (DE64 or DE128, see spec.go) to the MAC that
// mac computes over the packed message without its last 8 bytes, and
// returns the packed message as it will be sent.
func Seal(m *iso8583.Message, mac func([]byte) ([]byte, error)) ([]byte, error) {
	m.UnsetField(DEMAC)
	m.UnsetField(DEMAC2)
	id := macFieldFor(m)
	if err := m.BinaryField(id, make([]byte, MACLen)); err != nil {
		return nil, fmt.Errorf("%w: setting MAC field: %w", ErrInvalidRequest, safeErr(err))
	}
	packed, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("%w: packing: %w", ErrInvalidRequest, safeErr(err))
	}
	sum, err := mac(packed[:len(packed)-MACLen])
	if err != nil {
		return nil, fmt.Errorf("host: computing MAC: %w", err)
	}
	if len(sum) != MACLen {
		return nil, fmt.Errorf("host: MAC is %d bytes, want %d", len(sum), MACLen)
	}
	if err := m.BinaryField(id, sum); err != nil {
		return nil, fmt.Errorf("%w: setting MAC field: %w", ErrInvalidRequest, safeErr(err))
	}
	copy(packed[len(packed)-MACLen:], sum)
	return packed, nil
}

// SplitMAC returns the MACed bytes and the MAC of raw, the packed form of m
// (as accepted by Decode). It fails with ErrMalformed when m carries no MAC,
// two MACs, or a MAC in the wrong field for its bitmap.
func SplitMAC(m *iso8583.Message, raw []byte) (input, mac []byte, err error) {
	fields := m.GetFields()
	_, has64 := fields[DEMAC]
	_, has128 := fields[DEMAC2]
	want := macFieldFor(m)
	switch {
	case has64 && has128:
		return nil, nil, fmt.Errorf("%w: two MAC fields", ErrMalformed)
	case want == DEMAC && !has64, want == DEMAC2 && !has128:
		return nil, nil, fmt.Errorf("%w: MAC missing", ErrMalformed)
	}
	if len(raw) < MACLen+12 {
		return nil, nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	v, err := m.GetBytes(want)
	if err != nil || !bytes.Equal(v, raw[len(raw)-MACLen:]) {
		return nil, nil, fmt.Errorf("%w: MAC is not the last field", ErrMalformed)
	}
	return raw[:len(raw)-MACLen], raw[len(raw)-MACLen:], nil
}
