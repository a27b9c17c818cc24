package main

import (
	"encoding/binary"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The messages of test/fixtures/interop.proto this peer uses, field numbers as there.
var (
	keyValue, echoRequest, echoResponse, chunk, sourceRequest, streamSummary protoreflect.MessageDescriptor
)

func field(name string, number int32, t descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
	return &descriptorpb.FieldDescriptorProto{
		Name:     proto.String(name),
		JsonName: proto.String(name),
		Number:   proto.Int32(number),
		Type:     t.Enum(),
		Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
	}
}

func message(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
	return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
}

func init() {
	const (
		bytesT  = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		uint32T = descriptorpb.FieldDescriptorProto_TYPE_UINT32
		uint64T = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		int32T  = descriptorpb.FieldDescriptorProto_TYPE_INT32
		stringT = descriptorpb.FieldDescriptorProto_TYPE_STRING
	)
	metadata := field("metadata", 2, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE)
	metadata.TypeName = proto.String(".ttrpc.interop.v1.KeyValue")
	metadata.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("interop.proto"),
		Package: proto.String("ttrpc.interop.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			message("EchoRequest", field("payload", 1, bytesT), field("response_size", 2, uint32T),
				field("sleep_ms", 3, uint32T), field("fail_code", 4, int32T), field("fail_message", 5, stringT)),
			message("KeyValue", field("key", 1, stringT), field("value", 2, stringT)),
			message("EchoResponse", field("payload", 1, bytesT), metadata),
			message("Chunk", field("data", 1, bytesT)),
			message("SourceRequest", field("count", 1, uint32T), field("size", 2, uint32T)),
			message("StreamSummary", field("count", 1, uint64T), field("in_order", 2, uint64T), field("bytes", 3, uint64T)),
		},
	}
	fd, err := protodesc.NewFile(file, nil)
	if err != nil {
		panic(err)
	}
	m := fd.Messages()
	keyValue, echoRequest, echoResponse = m.ByName("KeyValue"), m.ByName("EchoRequest"), m.ByName("EchoResponse")
	chunk, sourceRequest, streamSummary = m.ByName("Chunk"), m.ByName("SourceRequest"), m.ByName("StreamSummary")
}

func newMessage(d protoreflect.MessageDescriptor) *dynamicpb.Message { return dynamicpb.NewMessage(d) }

func get(m *dynamicpb.Message, name string) protoreflect.Value {
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
}

func set(m *dynamicpb.Message, name string, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
}

// newChunk is chunk `index` of `size` bytes: the index big-endian in its first 4 bytes.
func newChunk(index, size int) *dynamicpb.Message {
	data := make([]byte, size)
	if size >= 4 {
		binary.BigEndian.PutUint32(data, uint32(index))
	}
	c := newMessage(chunk)
	set(c, "data", protoreflect.ValueOfBytes(data))
	return c
}

// summary counts what a consumer sees, pausing 1 ms every 100 messages (a slow consumer).
type summary struct {
	Count   uint64 `json:"count"`
	InOrder uint64 `json:"inOrder"`
	Bytes   uint64 `json:"bytes"`
}

func (s *summary) see(c *dynamicpb.Message) {
	data := get(c, "data").Bytes()
	if len(data) >= 4 && uint64(binary.BigEndian.Uint32(data)) == s.Count {
		s.InOrder++
	}
	s.Count++
	s.Bytes += uint64(len(data))
	if s.Count%100 == 0 {
		time.Sleep(time.Millisecond)
	}
}

func (s *summary) message() *dynamicpb.Message {
	m := newMessage(streamSummary)
	set(m, "count", protoreflect.ValueOfUint64(s.Count))
	set(m, "in_order", protoreflect.ValueOfUint64(s.InOrder))
	set(m, "bytes", protoreflect.ValueOfUint64(s.Bytes))
	return m
}
