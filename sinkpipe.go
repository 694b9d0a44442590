package ngbak

import "sync"

// sinkPipe hands the compressed stream to a goroutine of its own, which
// hashes it and writes it to the storage object, so that on a second core
// the encoder compresses the next block meanwhile: hashing and writing
// cost as much as compressing incompressible data (float vectors). It
// holds at most sinkPipeBuffers buffers of sinkPipeBufferSize bytes. A
// write error is returned by a later Write and by close.
type sinkPipe struct {
	write func([]byte) error
	full  chan []byte
	free  chan []byte
	done  chan struct{}
	once  sync.Once
	err   error // set by the goroutine before done closes, or when full is drained
	mu    sync.Mutex
}

const (
	sinkPipeBuffers    = 4
	sinkPipeBufferSize = 256 << 10
)

func newSinkPipe(write func([]byte) error) *sinkPipe {
	p := &sinkPipe{write: write, full: make(chan []byte, sinkPipeBuffers), free: make(chan []byte, sinkPipeBuffers), done: make(chan struct{})}
	for range sinkPipeBuffers {
		p.free <- make([]byte, 0, sinkPipeBufferSize)
	}
	go p.run()
	return p
}

func (p *sinkPipe) run() {
	defer close(p.done)
	for b := range p.full {
		if p.failed() == nil {
			if err := p.write(b); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
		}
		p.free <- b[:0]
	}
}

func (p *sinkPipe) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *sinkPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if err := p.failed(); err != nil {
			return n, err
		}
		buf := <-p.free
		k := min(len(b), sinkPipeBufferSize)
		buf = append(buf, b[:k]...)
		p.full <- buf
		b, n = b[k:], n+k
	}
	return n, nil
}

// close waits for everything written to be hashed and written.
func (p *sinkPipe) close() error {
	p.once.Do(func() { close(p.full) })
	<-p.done
	return p.failed()
}
