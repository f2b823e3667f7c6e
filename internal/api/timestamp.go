package api

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Timestamp is a point in time as the awsJson protocols send it: a JSON number of seconds since
// the Unix epoch, with millisecond precision (e.g. 1534461854.64).
type Timestamp time.Time

// NewTimestamp returns a pointer to t as a Timestamp, for optional response members.
func NewTimestamp(t time.Time) *Timestamp {
	ts := Timestamp(t)
	return &ts
}

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// MarshalJSON writes epoch seconds with at most three decimals.
func (t Timestamp) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

// appendJSON appends what MarshalJSON writes to b.
func (t Timestamp) appendJSON(b []byte) []byte {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(b, float64(ms)/1000, 'f', -1, 64)
}

// UnmarshalJSON reads epoch seconds given as a JSON number.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("expected Timestamp to be a JSON number of epoch seconds, got %s", b)
	}
	sec, frac := math.Modf(f)
	*t = Timestamp(time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC())
	return nil
}
