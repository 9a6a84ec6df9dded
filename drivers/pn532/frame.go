package pn532

import "fmt"

// Frame identifiers (UM0701-02 §6.2.1.1).
const (
	TFIHost byte = 0xD4 // frame from the host controller to the PN532
	TFIChip byte = 0xD5 // frame from the PN532 to the host controller
)

// MaxFrameData is the largest LEN the PN532 firmware handles: TFI plus 264
// bytes of packet data (UM0701-02 §6.2.1.2).
const MaxFrameData = 265

// MaxFrameSize is the largest frame on the wire: an extended information
// frame of MaxFrameData bytes (00 00 FF FF FF LENM LENL LCS, data, DCS, 00).
const MaxFrameSize = 8 + MaxFrameData + 2

// FrameKind tells the four frame types of UM0701-02 §6.2.1 apart.
type FrameKind uint8

// Frame kinds.
const (
	FrameInfo  FrameKind = iota // normal or extended information frame
	FrameACK                    // 00 00 FF 00 FF 00
	FrameNACK                   // 00 00 FF FF 00 00
	FrameError                  // 00 00 FF 01 FF 7F 81 00 (syntax error)
)

func (k FrameKind) String() string {
	switch k {
	case FrameInfo:
		return "info"
	case FrameACK:
		return "ACK"
	case FrameNACK:
		return "NACK"
	case FrameError:
		return "error"
	}
	return fmt.Sprintf("FrameKind(%d)", uint8(k))
}

// Frame is a decoded frame. Data aliases the decoded buffer.
type Frame struct {
	Kind     FrameKind
	Extended bool   // information frame used the extended length format
	TFI      byte   // information frames only
	Data     []byte // PD0..PDn: command/response code then parameters
}

// Err maps the frames that mean failure when a response is expected to
// their sentinel errors: NACK to ErrNACK and the error frame to
// ErrApplication. It returns nil for ACK and information frames.
func (f Frame) Err() error {
	switch f.Kind {
	case FrameNACK:
		return ErrNACK
	case FrameError:
		return ErrApplication
	}
	return nil
}

var (
	ackFrame  = [...]byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackFrame = [...]byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	errFrame  = [...]byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
)

// AppendACK appends an ACK frame to dst.
func AppendACK(dst []byte) []byte { return append(dst, ackFrame[:]...) }

// AppendNACK appends a NACK frame to dst.
func AppendNACK(dst []byte) []byte { return append(dst, nackFrame[:]...) }

// AppendErrorFrame appends the application level (syntax) error frame.
func AppendErrorFrame(dst []byte) []byte { return append(dst, errFrame[:]...) }

// AppendFrame appends an information frame carrying tfi and data to dst. It
// uses the normal format when TFI plus data fit in 255 bytes and the
// extended format otherwise, as the chip does (UM0701-02 §6.2.1.2).
func AppendFrame(dst []byte, tfi byte, data []byte) ([]byte, error) {
	n := len(data) + 1
	if n > MaxFrameData {
		return dst, fmt.Errorf("%w: %d bytes of packet data, max %d", ErrTooLong, n, MaxFrameData)
	}
	if n <= 0xFF {
		dst = append(dst, 0x00, 0x00, 0xFF, byte(n), byte(-n))
	} else {
		hi, lo := byte(n>>8), byte(n)
		dst = append(dst, 0x00, 0x00, 0xFF, 0xFF, 0xFF, hi, lo, -(hi + lo))
	}
	sum := tfi
	dst = append(dst, tfi)
	for _, b := range data {
		sum += b
	}
	dst = append(dst, data...)
	return append(dst, -sum, 0x00), nil
}

// DecodeFrame decodes the first frame in b. Leading zero bytes are taken as
// preamble (§6.2.1.6 allows any number); the start code 00 FF must follow.
// It returns the frame and the number of bytes consumed through the
// postamble. Bytes after the frame are not looked at. The errors are
// ErrIncomplete (b ends early), ErrChecksum and ErrFrame.
func DecodeFrame(b []byte) (Frame, int, error) {
	i := 0
	for i < len(b) && b[i] == 0x00 {
		i++
	}
	if i == len(b) {
		return Frame{}, 0, ErrIncomplete
	}
	if i == 0 || b[i] != 0xFF {
		return Frame{}, 0, fmt.Errorf("%w: no start code", ErrFrame)
	}
	i++
	if len(b) < i+2 {
		return Frame{}, 0, ErrIncomplete
	}
	l, lcs := b[i], b[i+1]
	var length, hdr int
	ext := false
	switch {
	case l == 0x00 && lcs == 0xFF:
		return special(b, i+2, Frame{Kind: FrameACK})
	case l == 0xFF && lcs == 0x00:
		return special(b, i+2, Frame{Kind: FrameNACK})
	case l == 0xFF && lcs == 0xFF:
		if len(b) < i+5 {
			return Frame{}, 0, ErrIncomplete
		}
		hi, lo, cs := b[i+2], b[i+3], b[i+4]
		if hi+lo+cs != 0 {
			return Frame{}, 0, fmt.Errorf("%w: extended length checksum", ErrChecksum)
		}
		length = int(hi)<<8 | int(lo)
		if length == 0 || length > MaxFrameData {
			return Frame{}, 0, fmt.Errorf("%w: extended length %d", ErrFrame, length)
		}
		hdr = i + 5
		ext = true
	default:
		if l+lcs != 0 {
			return Frame{}, 0, fmt.Errorf("%w: length checksum", ErrChecksum)
		}
		if l == 0 {
			return Frame{}, 0, fmt.Errorf("%w: zero length", ErrFrame)
		}
		length = int(l)
		hdr = i + 2
	}
	end := hdr + length
	if len(b) < end+2 {
		return Frame{}, 0, ErrIncomplete
	}
	var sum byte
	for _, c := range b[hdr : end+1] {
		sum += c
	}
	if sum != 0 {
		return Frame{}, 0, fmt.Errorf("%w: data checksum", ErrChecksum)
	}
	if b[end+1] != 0x00 {
		return Frame{}, 0, fmt.Errorf("%w: bad postamble", ErrFrame)
	}
	if !ext && length == 1 && b[hdr] == 0x7F {
		return Frame{Kind: FrameError}, end + 2, nil
	}
	return Frame{Kind: FrameInfo, Extended: ext, TFI: b[hdr], Data: b[hdr+1 : end]}, end + 2, nil
}

func special(b []byte, i int, f Frame) (Frame, int, error) {
	if len(b) < i+1 {
		return Frame{}, 0, ErrIncomplete
	}
	if b[i] != 0x00 {
		return Frame{}, 0, fmt.Errorf("%w: bad postamble", ErrFrame)
	}
	return f, i + 1, nil
}
