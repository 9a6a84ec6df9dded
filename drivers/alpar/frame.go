package alpar

import (
	"bufio"
	"fmt"
	"io"
)

// Frame start bytes and limits of AN10207.
const (
	Ack        = 0x60 // first byte of a command or positive answer
	Nack       = 0xE0 // first byte of a negative answer (status in payload)
	MaxPayload = 506  // largest LEN accepted by the chip
	headerLen  = 4    // start, LEN_H, LEN_L, CMD
	// MaxFrame is the size of the largest frame: header, payload and LRC.
	MaxFrame = headerLen + MaxPayload + 1
)

// ALPAR command codes (AN10207 command list).
const (
	CmdCardCommand     = 0x00 // exchange an APDU with the card (T=0 or T=1)
	CmdCheckPresCard   = 0x09 // is a card in the slot
	CmdSendNumMask     = 0x0A // firmware (mask) version string
	CmdSetCardBaudRate = 0x0B // FiDi and clock for the card
	CmdSetSerialBaud   = 0x0D // host UART speed
	CmdPowerOff        = 0x4D // deactivate the card
	CmdPowerUpISO      = 0x69 // activate the card, answer is the ATR
	CmdCardEvent       = 0xA0 // unsolicited: payload 01h inserted, 00h removed
	CmdGetCardParams   = 0xA6 // parameters negotiated with the card
)

// Frame is one ALPAR frame. Payload aliases the buffer it was decoded from.
type Frame struct {
	Nack    bool
	Cmd     byte
	Payload []byte
}

// lrc is the XOR of b.
func lrc(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= c
	}
	return x
}

// AppendFrame appends the encoded frame to dst.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	if len(f.Payload) > MaxPayload {
		return dst, fmt.Errorf("alpar: encode %d payload bytes: %w", len(f.Payload), ErrFrameTooLong)
	}
	start := len(dst)
	first := byte(Ack)
	if f.Nack {
		first = Nack
	}
	dst = append(dst, first, byte(len(f.Payload)>>8), byte(len(f.Payload)), f.Cmd)
	dst = append(dst, f.Payload...)
	return append(dst, lrc(dst[start:])), nil
}

// EncodeFrame returns the encoded frame.
func EncodeFrame(f Frame) ([]byte, error) {
	return AppendFrame(make([]byte, 0, headerLen+len(f.Payload)+1), f)
}

// DecodeFrame decodes the frame at the start of b and returns it with the
// number of bytes it used. With ErrShortFrame, n is the total size needed
// when known (0 otherwise). With ErrFrameLRC, the returned frame is filled
// in so that a receiver can NACK the command.
func DecodeFrame(b []byte) (f Frame, n int, err error) {
	if len(b) == 0 {
		return f, 0, ErrShortFrame
	}
	if b[0] != Ack && b[0] != Nack {
		return f, 0, fmt.Errorf("alpar: start byte %02Xh: %w", b[0], ErrBadStart)
	}
	if len(b) < 3 {
		return f, 0, ErrShortFrame
	}
	l := int(b[1])<<8 | int(b[2])
	if l > MaxPayload {
		return f, 0, fmt.Errorf("alpar: length %d: %w", l, ErrFrameTooLong)
	}
	n = headerLen + l + 1
	if len(b) < n {
		return f, n, ErrShortFrame
	}
	f = Frame{Nack: b[0] == Nack, Cmd: b[3], Payload: b[headerLen : headerLen+l]}
	if lrc(b[:n]) != 0 {
		return f, n, ErrFrameLRC
	}
	return f, n, nil
}

// FrameReader reads frames from a byte stream, resynchronising on the next
// start byte after garbage. It is not safe for concurrent use.
type FrameReader struct {
	r   *bufio.Reader
	buf [MaxFrame]byte
}

// NewFrameReader returns a FrameReader reading from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, MaxFrame)}
}

// ReadFrame returns the next frame. The payload is valid until the next
// call. ErrFrameLRC comes with the (suspect) frame, ErrFrameTooLong after
// skipping the bad start byte; both are recoverable by calling again. Other
// errors come from the underlying reader.
func (fr *FrameReader) ReadFrame() (Frame, error) {
	for {
		c, err := fr.r.ReadByte()
		if err != nil {
			return Frame{}, err
		}
		if c == Ack || c == Nack {
			fr.buf[0] = c
			break
		}
	}
	// Peek at the length so that, when it is impossible, only the start
	// byte is dropped: a real start byte may hide among the length bytes.
	hdr, err := fr.r.Peek(2)
	if err != nil {
		return Frame{}, err
	}
	copy(fr.buf[1:3], hdr)
	_, need, err := DecodeFrame(fr.buf[:3])
	if err != ErrShortFrame {
		// Too long: not a frame start, let the caller try again.
		return Frame{}, err
	}
	_, _ = fr.r.Discard(2)
	if _, err := io.ReadFull(fr.r, fr.buf[3:need]); err != nil {
		return Frame{}, err
	}
	f, _, err := DecodeFrame(fr.buf[:need])
	return f, err
}
