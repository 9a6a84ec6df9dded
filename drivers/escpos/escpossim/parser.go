package escpossim

import (
	"strconv"

	"posd/conn/printer"
)

// parser is the command interpreter: it sees every byte the real-time
// layer has seen, in order, and calls the Sim's printing methods.
type parser struct {
	cmd   []byte // the command or GB code being collected
	skip  int    // data bytes of the last command still to drop
	until int    // >0: drop bytes up to a NUL, at most this many

	// Modes (ESC @ resets them).
	align         printer.Align
	bold          bool
	width, height int
	kanji         bool

	// The line buffer.
	line  []rune
	lineW int
	maxH  int
	cur   Line
}

func (p *parser) reset(kanji bool) {
	*p = parser{width: 1, height: 1, kanji: kanji}
}

func (p *parser) clearLine() {
	p.line, p.lineW, p.maxH = nil, 0, 0
}

// shape is what a command takes after its first byte: hdr bytes in all
// (executed once they are in), then data bytes dropped unseen, or bytes
// up to a NUL (until).
type shape struct {
	hdr, data int
	until     bool
}

// need returns the shape of the command in p.cmd, ok false while more
// bytes are needed to tell, known false for a command the simulator does
// not know (the prefix and the byte after it are dropped). Lengths are
// the Epson ESC/POS Command Reference's.
func (p *parser) need() (sh shape, ok, known bool) {
	c := p.cmd
	fixed := func(n int) (shape, bool, bool) { return shape{hdr: n}, len(c) >= n, true }
	// header reads n bytes, then the data length from them.
	header := func(n int, data func() int) (shape, bool, bool) {
		if len(c) < n {
			return shape{hdr: n}, false, true
		}
		return shape{hdr: n, data: data()}, true, true
	}
	u16 := func(i int) int { return int(c[i]) + int(c[i+1])<<8 }
	if len(c) < 2 {
		return shape{}, false, true
	}
	switch c[0] {
	case 0x1B: // ESC
		switch c[1] {
		case '@', '2', '<', 'S', 'L', 'i', 'm', 0x0C:
			return fixed(2)
		case 'E', 'G', '!', 'a', 'd', 'J', '-', '3', 'M', 'R', 't', 'V', '{', ' ', 'e', 'K', 'U', 'T', 'r', '=', 'I', 'u', 'v', 'f', 'F':
			return fixed(3)
		case '$', '\\', 'c':
			return fixed(4)
		case 'p':
			return fixed(5)
		case 'W':
			return fixed(10)
		case 'D': // tab positions up to NUL, at most 32
			return shape{hdr: 2, until: true}, true, true
		case '*': // bit image: m nL nH, then columns of 1 or 3 bytes
			return header(5, func() int {
				if c[2] == 32 || c[2] == 33 {
					return 3 * u16(3)
				}
				return u16(3)
			})
		}
	case 0x1D: // GS
		switch c[1] {
		case 'V':
			if len(c) < 3 {
				return shape{}, false, true
			}
			switch c[2] {
			case 65, 66, 97, 98, 103, 104:
				return fixed(4)
			}
			return fixed(3)
		case '!', 'r', 'B', 'H', 'h', 'w', 'f', 'a', 'b', 'I', '/', 'E', 'T', 'j':
			return fixed(3)
		case 'L', 'W', 'P', '$', '\\', 'A':
			return fixed(4)
		case 'k': // barcode: m <= 6 data up to NUL; m >= 65 n, then n bytes
			if len(c) < 3 {
				return shape{}, false, true
			}
			if c[2] <= 6 {
				return shape{hdr: 3, until: true}, true, true
			}
			return header(4, func() int { return int(c[3]) })
		case 'v': // raster image: '0' m xL xH yL yH, then x by y bytes
			return header(8, func() int { return u16(4) * u16(6) })
		case '(': // fn pL pH, then pL+pH*256 bytes
			return header(5, func() int { return u16(3) })
		case '*': // downloaded bit image: x y, then x*y*8 bytes
			return header(4, func() int { return int(c[2]) * int(c[3]) * 8 })
		}
	case 0x1C: // FS
		switch c[1] {
		case '&', '.':
			return fixed(2)
		case '!', '-', 'C', 'W':
			return fixed(3)
		case 'S', 'p':
			return fixed(4)
		case '2':
			return fixed(76)
		}
	case 0x10: // DLE
		switch c[1] {
		case 0x04, 0x05:
			return fixed(3)
		case 0x14:
			if len(c) < 3 {
				return shape{}, false, true
			}
			switch c[2] {
			case 1, 2:
				return fixed(5)
			case 8:
				return fixed(10)
			}
			return fixed(3)
		}
	}
	return shape{}, false, false
}

// feed takes one byte.
func (p *parser) feed(s *Sim, c byte) {
	switch {
	case p.skip > 0:
		p.skip--
		return
	case p.until > 0:
		p.until--
		if c == 0 {
			p.until = 0
		}
		return
	}
	if len(p.cmd) == 0 {
		switch c {
		case 0x1B, 0x1D, 0x1C, 0x10:
			p.cmd = append(p.cmd, c)
			return
		}
		p.char(s, c)
		return
	}
	p.cmd = append(p.cmd, c)
	if p.cmd[0] >= 0x80 { // a multi-byte GB code
		p.gb(s)
		return
	}
	sh, ok, known := p.need()
	switch {
	case !known:
		s.stats.Unknown++
		p.cmd = p.cmd[:0]
	case ok:
		p.exec(s)
		p.cmd = p.cmd[:0]
		p.skip = sh.data
		if sh.until {
			p.until = 33
		}
	}
}

// char takes a byte outside any command.
func (p *parser) char(s *Sim, c byte) {
	switch {
	case c == 0x0A: // LF
		s.printLine(false)
	case c == 0x0C: // FF: in standard mode, print
		s.printLine(false)
	case c == 0x0D || c == 0x18: // CR (auto line feed off), CAN (page mode)
	case c == 0x09: // HT: default tab stops every 8 characters
		for i := 0; i < 8; i++ {
			s.putChar(' ', 1)
			if p.lineW%(8*p.width) == 0 || p.lineW == 0 || s.offline() {
				break
			}
		}
	case c < 0x20 || c == 0x7F:
		s.stats.Unknown++
	case c < 0x80:
		s.putChar(rune(c), 1)
	case p.kanji && c >= 0x81 && c != 0xFF:
		p.cmd = append(p.cmd, c) // the lead byte of a GB code
	default:
		s.putChar(cp437.DecodeByte(c), 1)
	}
}

// gb collects a GB18030 code in p.cmd: two bytes, or four when the
// second is a digit (81-FE 30-39 81-FE 30-39).
func (p *parser) gb(s *Sim) {
	c := p.cmd
	i := len(c) - 1
	var valid bool
	switch i {
	case 1:
		valid = c[1] >= 0x30 && c[1] <= 0x39 || c[1] >= 0x40 && c[1] <= 0xFE && c[1] != 0x7F
	case 2:
		valid = c[2] >= 0x81 && c[2] <= 0xFE
	default:
		valid = c[3] >= 0x30 && c[3] <= 0x39
	}
	if !valid {
		// Not a code: the lead byte prints as a missing glyph and the
		// bytes after it are taken afresh, so that a command after a
		// stray lead byte is never swallowed.
		rest := append([]byte(nil), c[1:]...)
		p.cmd = p.cmd[:0]
		s.putChar('?', 2)
		for _, b := range rest {
			p.feed(s, b)
		}
		return
	}
	if i == 1 && c[1] >= 0x40 || i == 3 {
		r := '?'
		if out, err := gbDecoder.NewDecoder().Bytes(c); err == nil {
			if rs := []rune(string(out)); len(rs) == 1 {
				r = rs[0]
			}
		}
		p.cmd = p.cmd[:0]
		s.putChar(r, 2)
	}
}

// exec runs a complete command (its header: data is dropped after).
func (p *parser) exec(s *Sim) {
	c := p.cmd
	s.stats.Commands++
	switch c[0] {
	case 0x1B:
		p.esc(s, c[1], c[2:])
	case 0x1D:
		p.gs(s, c[1], c[2:])
	case 0x1C:
		switch c[1] {
		case '&':
			if s.opts.Chinese {
				p.kanji = true
			}
		case '.':
			p.kanji = false
		}
	}
	// DLE commands are real-time: the Sim answered them on arrival.
}

func (p *parser) esc(s *Sim, op byte, a []byte) {
	switch op {
	case '@':
		p.reset(s.opts.Chinese) // Chinese models power on in Chinese mode
	case 'E':
		p.bold = a[0]&1 != 0
	case '!': // bit 3 emphasis, bit 4 double height, bit 5 double width
		p.bold = a[0]&0x08 != 0
		p.height, p.width = 1, 1
		if a[0]&0x10 != 0 {
			p.height = 2
		}
		if a[0]&0x20 != 0 {
			p.width = 2
		}
	case 'a': // taken at the start of a line only
		if len(p.line) > 0 {
			return
		}
		switch a[0] {
		case 0, '0':
			p.align = printer.Left
		case 1, '1':
			p.align = printer.Center
		case 2, '2':
			p.align = printer.Right
		}
	case 'd': // print and feed n lines
		s.printLine(false)
		if n := int(a[0]); n > 1 && !s.offline() {
			s.feed(n - 1)
		}
	case 'J': // print and feed n motion units (about 30 to a line)
		s.printLine(false)
		if n := int(a[0]) / 30; n > 1 && !s.offline() {
			s.feed(n - 1)
		}
	}
}

func (p *parser) gs(s *Sim, op byte, a []byte) {
	switch op {
	case '!': // bits 4-6 width - 1, bits 0-2 height - 1
		w, h := int(a[0]>>4)+1, int(a[0]&0x0F)+1
		if w <= 8 && h <= 8 {
			p.width, p.height = w, h
		}
	case 'V':
		switch a[0] {
		case 0, 48:
			s.cut(Full, false, 0)
		case 1, 49:
			s.cut(Partial, false, 0)
		case 65, 97, 103:
			s.cut(Full, true, int(a[1])/30)
		case 66, 98, 104:
			s.cut(Partial, true, int(a[1])/30)
		default:
			s.stats.Unknown++
		}
	case 'r': // transmit status, in order with the data before it
		if (a[0] == 1 || a[0] == 49) && !s.offline() && !s.opts.NoGSr {
			s.emit(s.gsr1())
		}
	case 'v': // raster image '0' m xL xH yL yH: a line of its own
		if len(p.line) == 0 && !s.offline() {
			x, y := int(a[2])+int(a[3])<<8, int(a[4])+int(a[5])<<8
			p.line = []rune("[raster " + strconv.Itoa(8*x) + "x" + strconv.Itoa(y) + "]")
			p.cur = Line{Align: p.align, Width: 1, Height: 1}
			p.maxH = max((y+29)/30, 1)
			s.printLine(false)
		}
	}
}
