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

// Framer reads and writes the frames of one dialect (see Framing). It
// implements the MessageReader and MessageWriter interfaces of the
// connection module, so the terminal's link and the acquirer simulator
// frame the same way.
//
// A Framer with a TPDU writes out on every message and expects in on every
// received message (the peer's TPDU: destination and source swapped).
type Framer struct {
	d       *Dialect
	out, in []byte // TPDU written, TPDU expected
	header  []byte // message header written; one of its length and first byte is expected
}

// NewFramer returns the framer of the side that sends tpdu. A nil or empty
// tpdu means the dialect's default TPDU (none for ASCII87). Otherwise tpdu
// must be 5 bytes starting with 0x60.
func (d *Dialect) NewFramer(tpdu []byte) (*Framer, error) {
	if len(tpdu) == 0 {
		tpdu = d.Framing.DefaultTPDU
	}
	f := &Framer{d: d, header: bytes.Clone(d.Framing.Header)}
	if len(tpdu) == 0 {
		if d.Framing.TPDURequired {
			return nil, fmt.Errorf("%w: dialect %s needs a TPDU", ErrInvalidRequest, d.Name)
		}
		return f, nil
	}
	if len(tpdu) != TPDULen || tpdu[0] != TPDUID {
		return nil, fmt.Errorf("%w: TPDU must be %d bytes starting with 0x%02X", ErrInvalidRequest, TPDULen, TPDUID)
	}
	f.out = bytes.Clone(tpdu)
	f.in = SwapTPDU(f.out)
	return f, nil
}

// Dialect returns the dialect the framer decodes.
func (f *Framer) Dialect() *Dialect { return f.d }

// Peer returns the framer of the other side of the link: it writes the TPDU
// this framer expects and expects the TPDU this framer writes.
func (f *Framer) Peer() *Framer {
	return &Framer{d: f.d, out: bytes.Clone(f.in), in: bytes.Clone(f.out), header: bytes.Clone(f.header)}
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

// WriteFrame writes one frame holding msg (a packed ISO message) in a
// single Write call.
func (f *Framer) WriteFrame(w io.Writer, msg []byte) error {
	n := len(f.out) + len(f.header) + len(msg)
	if n > 0xFFFF {
		return fmt.Errorf("%w: message of %d bytes does not fit the length header", ErrInvalidRequest, n)
	}
	buf := make([]byte, 2, 2+n)
	binary.BigEndian.PutUint16(buf, uint16(n))
	buf = append(buf, f.out...)
	buf = append(buf, f.header...)
	buf = append(buf, msg...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("host: writing frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame and returns the ISO message bytes after the
// length header, TPDU and message header. A zero-length frame (keep-alive)
// returns no bytes and no error. I/O errors are returned as they are (the
// stream is lost); a frame whose TPDU or message header is wrong returns an
// error matching ErrMalformed after the whole frame has been consumed, so
// the stream stays in step.
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
	if h := len(f.header); h > 0 {
		if len(body) < h || body[0] != f.header[0] {
			return nil, fmt.Errorf("%w: unexpected message header", ErrMalformed)
		}
		body = body[h:]
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
	msg, err := f.d.Decode(raw)
	if err != nil {
		return nil, &isoerrors.UnpackError{Err: err}
	}
	return msg, nil
}

// WriteMessage packs and writes one message.
func (f *Framer) WriteMessage(w io.Writer, m *iso8583.Message) error {
	packed, err := m.Pack()
	if err != nil {
		return &isoerrors.PackError{Err: fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "packing"))}
	}
	return f.WriteFrame(w, packed)
}
