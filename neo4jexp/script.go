package neo4jexp

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Item is one element of a cypher-shell script: a Cypher statement, or a
// client command such as :begin or :param.
type Item struct {
	// Line is where the item starts, counting from 1.
	Line int
	// Command is the client command without its colon ("begin", "param"),
	// or empty for a statement.
	Command string
	// Text is the statement without its closing semicolon, or the command's
	// arguments.
	Text string
}

// Parser reads cypher-shell scripts, as `cypher-shell -f` does and as
// APOC's export in the cypher-shell format writes them: statements end at a
// semicolon outside string literals ('...' and "..." with backslash
// escapes), backtick identifiers (with “ for a backtick) and comments
// (// to the end of the line, /* ... */); a line that starts with a colon
// where a statement would start is a client command that ends with the
// line. Statements may span lines; literals may hold anything, including
// semicolons, newlines and lines starting with a colon.
type Parser struct {
	r    *bufio.Reader
	line int
	err  error
}

// NewParser returns a Parser reading r.
func NewParser(r io.Reader) *Parser {
	return &Parser{r: bufio.NewReaderSize(r, 64<<10), line: 1}
}

// space is the white space between items, and trimmed from statements: the
// same set both ways, so a statement never starts with what would make it a
// command.
const space = " \t\n\r\v\f"

// maxStatement bounds one statement, which is held in memory.
const maxStatement = 256 << 20

// Next returns the next item, or io.EOF at the end. A script that ends
// inside a statement, literal or comment is an error naming the line where
// it began.
func (p *Parser) Next() (Item, error) {
	if p.err != nil {
		return Item{}, p.err
	}
	it, err := p.next()
	if err != nil {
		p.err = err
	}
	return it, err
}

func (p *Parser) read() (byte, error) {
	c, err := p.r.ReadByte()
	if err == nil && c == '\n' {
		p.line++
	}
	return c, err
}

func (p *Parser) next() (Item, error) {
	// Skip white space and comments between items. Peek, not read and
	// unread: bufio cannot unread after a Peek.
	for {
		b, err := p.r.Peek(1)
		if err != nil {
			return Item{}, err // io.EOF: no more items
		}
		switch c := b[0]; {
		case strings.IndexByte(space, c) >= 0 || c == ';':
			p.read()
			continue
		case c == ':':
			p.read()
			return p.command()
		case c == '/':
			if n, _ := p.r.Peek(2); len(n) == 2 && (n[1] == '/' || n[1] == '*') {
				p.read()
				if err := p.comment(); err != nil {
					return Item{}, err
				}
				continue
			}
		}
		return p.statement()
	}
}

func (p *Parser) command() (Item, error) {
	it := Item{Line: p.line}
	text, err := p.r.ReadString('\n')
	if err != nil && err != io.EOF {
		return Item{}, err
	}
	if strings.HasSuffix(text, "\n") {
		p.line++
	}
	text = strings.TrimSpace(text)
	name, args, _ := strings.Cut(text, " ")
	if name == "" {
		return Item{}, fmt.Errorf("line %d: a colon with no command", it.Line)
	}
	it.Command, it.Text = name, strings.TrimSpace(args)
	return it, nil
}

// comment skips a comment whose '/' was read.
func (p *Parser) comment() error {
	start := p.line
	c, _ := p.read()
	if c == '/' {
		for {
			c, err := p.read()
			if err == io.EOF || c == '\n' {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	for prev := byte(0); ; {
		c, err := p.read()
		if err == io.EOF {
			return fmt.Errorf("line %d: comment not closed", start)
		}
		if err != nil {
			return err
		}
		if prev == '*' && c == '/' {
			return nil
		}
		prev = c
	}
}

// statement reads up to the next semicolon outside literals and comments.
// Comments are kept in the text: the server skips them.
func (p *Parser) statement() (Item, error) {
	it := Item{Line: p.line}
	var b strings.Builder
	for {
		c, err := p.read()
		if err == io.EOF {
			text := strings.Trim(b.String(), space)
			if text == "" {
				return Item{}, io.EOF
			}
			it.Text = text
			return it, nil // cypher-shell runs a last statement without ';'
		}
		if err != nil {
			return Item{}, err
		}
		if b.Len() > maxStatement {
			return Item{}, fmt.Errorf("line %d: statement longer than %d bytes", it.Line, maxStatement)
		}
		switch c {
		case ';':
			it.Text = strings.Trim(b.String(), space)
			return it, nil
		case '\'', '"', '`':
			b.WriteByte(c)
			if err := p.quoted(&b, c); err != nil {
				return Item{}, err
			}
			continue
		case '/':
			n, _ := p.r.Peek(1)
			if len(n) == 1 && (n[0] == '/' || n[0] == '*') {
				start := p.line
				if err := p.comment(); err != nil {
					return Item{}, err
				}
				if p.line > start {
					b.WriteByte('\n')
				} else {
					b.WriteByte(' ')
				}
				continue
			}
		}
		b.WriteByte(c)
	}
}

// quoted copies a literal whose opening quote q was read, up to and with
// its closing quote.
func (p *Parser) quoted(b *strings.Builder, q byte) error {
	start := p.line
	for {
		c, err := p.read()
		if err == io.EOF {
			return fmt.Errorf("line %d: %c literal not closed", start, q)
		}
		if err != nil {
			return err
		}
		b.WriteByte(c)
		if b.Len() > maxStatement {
			return fmt.Errorf("line %d: literal longer than %d bytes", start, maxStatement)
		}
		switch {
		case c == '\\' && q != '`':
			e, err := p.read()
			if err == io.EOF {
				return fmt.Errorf("line %d: %c literal not closed", start, q)
			}
			if err != nil {
				return err
			}
			b.WriteByte(e)
		case c == q:
			// `` inside a backtick identifier is an escaped backtick.
			if q == '`' {
				if n, _ := p.r.Peek(1); len(n) == 1 && n[0] == '`' {
					p.read()
					b.WriteByte('`')
					continue
				}
			}
			return nil
		}
	}
}
