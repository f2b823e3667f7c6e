package server

import "time"

// HTTPLimits bound what one connection may cost the server: how long a client may take to send
// its headers and its request, how long a response may take, how long an idle keep-alive
// connection stays open, and how large the headers may be. A slow client (say, one trickling its
// headers a byte at a time) is cut off when its limit passes, and never holds up the others.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration // default 10 s
	ReadTimeout       time.Duration // headers and body; default 30 s
	WriteTimeout      time.Duration // from the end of the headers to the end of the response; default 60 s
	IdleTimeout       time.Duration // default 2 min
	MaxHeaderBytes    int           // default 64 KiB; larger headers get 431
}

// DefaultHTTPLimits are the limits of a server whose Config leaves them zero.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// orDefaults fills every zero field from DefaultHTTPLimits.
func (l HTTPLimits) orDefaults() HTTPLimits {
	d := DefaultHTTPLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}
