package main

// Hand-written protobuf messages for ttrpc.interop.v1 (test/fixtures/interop.proto).
//
// There is no protoc on the build machine, so the wire format is encoded by hand.
// gogo's proto.Marshal/proto.Unmarshal (used by the ttrpc codec) call the
// Marshal()/Unmarshal() methods when a message provides them.

import (
	"errors"
	"fmt"
	"math/bits"
)

const (
	wireVarint = 0
	wireI64    = 1
	wireBytes  = 2
	wireI32    = 5
)

var errTruncated = errors.New("proto: truncated message")

// --- encoding helpers -------------------------------------------------------

func sizeVarint(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendTag(b []byte, field int, wt int) []byte {
	return appendVarint(b, uint64(field)<<3|uint64(wt))
}

func appendBytesField(b []byte, field int, v []byte) []byte {
	b = appendTag(b, field, wireBytes)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendStringField(b []byte, field int, v string) []byte {
	b = appendTag(b, field, wireBytes)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	b = appendTag(b, field, wireVarint)
	return appendVarint(b, v)
}

// sizeLenField is the encoded size of a length-delimited field with a 1-byte tag.
func sizeLenField(n int) int { return 1 + sizeVarint(uint64(n)) + n }

// --- decoding helpers -------------------------------------------------------

func readVarint(b []byte, i int) (uint64, int, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if i >= len(b) {
			return 0, 0, errTruncated
		}
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, nil
		}
	}
	return 0, 0, errors.New("proto: varint overflow")
}

// readField reads one field header at b[i]. For length-delimited fields it
// returns the payload in data; for varints it returns the value in v. Other
// wire types are skipped (data/v unset).
func readField(b []byte, i int) (field int, wt int, v uint64, data []byte, next int, err error) {
	key, i, err := readVarint(b, i)
	if err != nil {
		return 0, 0, 0, nil, 0, err
	}
	field, wt = int(key>>3), int(key&7)
	if field <= 0 {
		return 0, 0, 0, nil, 0, fmt.Errorf("proto: illegal field number %d", field)
	}
	switch wt {
	case wireVarint:
		v, i, err = readVarint(b, i)
		if err != nil {
			return 0, 0, 0, nil, 0, err
		}
	case wireI64:
		if len(b)-i < 8 {
			return 0, 0, 0, nil, 0, errTruncated
		}
		i += 8
	case wireI32:
		if len(b)-i < 4 {
			return 0, 0, 0, nil, 0, errTruncated
		}
		i += 4
	case wireBytes:
		var n uint64
		n, i, err = readVarint(b, i)
		if err != nil {
			return 0, 0, 0, nil, 0, err
		}
		if n > uint64(len(b)-i) {
			return 0, 0, 0, nil, 0, errTruncated
		}
		data = b[i : i+int(n)]
		i += int(n)
	default:
		return 0, 0, 0, nil, 0, fmt.Errorf("proto: unsupported wire type %d", wt)
	}
	return field, wt, v, data, i, nil
}

func wantWire(field, got, want int) error {
	if got != want {
		return fmt.Errorf("proto: field %d has wire type %d, want %d", field, got, want)
	}
	return nil
}

// --- KeyValue ---------------------------------------------------------------

// KeyValue is ttrpc.interop.v1.KeyValue.
type KeyValue struct {
	Key   string
	Value string
}

func (m *KeyValue) Reset()         { *m = KeyValue{} }
func (m *KeyValue) String() string { return fmt.Sprintf("%+v", *m) }
func (*KeyValue) ProtoMessage()    {}

func (m *KeyValue) size() int {
	n := 0
	if m.Key != "" {
		n += sizeLenField(len(m.Key))
	}
	if m.Value != "" {
		n += sizeLenField(len(m.Value))
	}
	return n
}

func (m *KeyValue) appendTo(b []byte) []byte {
	if m.Key != "" {
		b = appendStringField(b, 1, m.Key)
	}
	if m.Value != "" {
		b = appendStringField(b, 2, m.Value)
	}
	return b
}

func (m *KeyValue) Marshal() ([]byte, error) { return m.appendTo(make([]byte, 0, m.size())), nil }

func (m *KeyValue) Unmarshal(b []byte) error {
	*m = KeyValue{}
	for i := 0; i < len(b); {
		field, wt, _, data, next, err := readField(b, i)
		if err != nil {
			return err
		}
		i = next
		switch field {
		case 1:
			if err := wantWire(field, wt, wireBytes); err != nil {
				return err
			}
			m.Key = string(data)
		case 2:
			if err := wantWire(field, wt, wireBytes); err != nil {
				return err
			}
			m.Value = string(data)
		}
	}
	return nil
}

// --- EchoRequest ------------------------------------------------------------

// EchoRequest is ttrpc.interop.v1.EchoRequest.
type EchoRequest struct {
	Payload      []byte
	ResponseSize uint32
	SleepMs      uint32
	FailCode     int32
	FailMessage  string
}

func (m *EchoRequest) Reset() { *m = EchoRequest{} }
func (m *EchoRequest) String() string {
	return fmt.Sprintf("EchoRequest{payload:%dB response_size:%d sleep_ms:%d fail_code:%d fail_message:%q}",
		len(m.Payload), m.ResponseSize, m.SleepMs, m.FailCode, m.FailMessage)
}
func (*EchoRequest) ProtoMessage() {}

func (m *EchoRequest) Marshal() ([]byte, error) {
	n := 0
	if len(m.Payload) > 0 {
		n += sizeLenField(len(m.Payload))
	}
	if m.ResponseSize != 0 {
		n += 1 + sizeVarint(uint64(m.ResponseSize))
	}
	if m.SleepMs != 0 {
		n += 1 + sizeVarint(uint64(m.SleepMs))
	}
	if m.FailCode != 0 {
		n += 1 + sizeVarint(uint64(int64(m.FailCode))) // int32 negatives are sign-extended to 10 bytes
	}
	if m.FailMessage != "" {
		n += sizeLenField(len(m.FailMessage))
	}
	b := make([]byte, 0, n)
	if len(m.Payload) > 0 {
		b = appendBytesField(b, 1, m.Payload)
	}
	if m.ResponseSize != 0 {
		b = appendVarintField(b, 2, uint64(m.ResponseSize))
	}
	if m.SleepMs != 0 {
		b = appendVarintField(b, 3, uint64(m.SleepMs))
	}
	if m.FailCode != 0 {
		b = appendVarintField(b, 4, uint64(int64(m.FailCode)))
	}
	if m.FailMessage != "" {
		b = appendStringField(b, 5, m.FailMessage)
	}
	return b, nil
}

func (m *EchoRequest) Unmarshal(b []byte) error {
	*m = EchoRequest{}
	for i := 0; i < len(b); {
		field, wt, v, data, next, err := readField(b, i)
		if err != nil {
			return err
		}
		i = next
		switch field {
		case 1:
			if err := wantWire(field, wt, wireBytes); err != nil {
				return err
			}
			m.Payload = append([]byte(nil), data...)
		case 2:
			if err := wantWire(field, wt, wireVarint); err != nil {
				return err
			}
			m.ResponseSize = uint32(v)
		case 3:
			if err := wantWire(field, wt, wireVarint); err != nil {
				return err
			}
			m.SleepMs = uint32(v)
		case 4:
			if err := wantWire(field, wt, wireVarint); err != nil {
				return err
			}
			m.FailCode = int32(v)
		case 5:
			if err := wantWire(field, wt, wireBytes); err != nil {
				return err
			}
			m.FailMessage = string(data)
		}
	}
	return nil
}

// --- EchoResponse -----------------------------------------------------------

// EchoResponse is ttrpc.interop.v1.EchoResponse.
type EchoResponse struct {
	Payload     []byte
	Metadata    []KeyValue
	TimeoutNano int64
}

func (m *EchoResponse) Reset() { *m = EchoResponse{} }
func (m *EchoResponse) String() string {
	return fmt.Sprintf("EchoResponse{payload:%dB metadata:%v timeout_nano:%d}", len(m.Payload), m.Metadata, m.TimeoutNano)
}
func (*EchoResponse) ProtoMessage() {}

func (m *EchoResponse) Marshal() ([]byte, error) {
	n := 0
	if len(m.Payload) > 0 {
		n += sizeLenField(len(m.Payload))
	}
	for i := range m.Metadata {
		n += sizeLenField(m.Metadata[i].size())
	}
	if m.TimeoutNano != 0 {
		n += 1 + sizeVarint(uint64(m.TimeoutNano))
	}
	b := make([]byte, 0, n)
	if len(m.Payload) > 0 {
		b = appendBytesField(b, 1, m.Payload)
	}
	for i := range m.Metadata {
		kv := &m.Metadata[i]
		b = appendTag(b, 2, wireBytes)
		b = appendVarint(b, uint64(kv.size()))
		b = kv.appendTo(b)
	}
	if m.TimeoutNano != 0 {
		b = appendVarintField(b, 3, uint64(m.TimeoutNano))
	}
	return b, nil
}

func (m *EchoResponse) Unmarshal(b []byte) error {
	*m = EchoResponse{}
	for i := 0; i < len(b); {
		field, wt, v, data, next, err := readField(b, i)
		if err != nil {
			return err
		}
		i = next
		switch field {
		case 1:
			if err := wantWire(field, wt, wireBytes); err != nil {
				return err
			}
			m.Payload = append([]byte(nil), data...)
		case 2:
			if err := wantWire(field, wt, wireBytes); err != nil {
				return err
			}
			var kv KeyValue
			if err := kv.Unmarshal(data); err != nil {
				return err
			}
			m.Metadata = append(m.Metadata, kv)
		case 3:
			if err := wantWire(field, wt, wireVarint); err != nil {
				return err
			}
			m.TimeoutNano = int64(v)
		}
	}
	return nil
}

// --- RawMessage -------------------------------------------------------------

// RawMessage is an opaque message for the generic client: Marshal returns the
// bytes verbatim and Unmarshal keeps the received bytes.
type RawMessage struct {
	Data []byte
}

func (m *RawMessage) Reset()         { m.Data = nil }
func (m *RawMessage) String() string { return fmt.Sprintf("RawMessage{%d bytes}", len(m.Data)) }
func (*RawMessage) ProtoMessage()    {}

func (m *RawMessage) Marshal() ([]byte, error) { return m.Data, nil }

func (m *RawMessage) Unmarshal(b []byte) error {
	m.Data = b
	return nil
}
