package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"strconv"
)

// hashDomain is the first field of every canonical encoding. It names the format, so that a future
// encoding can never produce the same bytes as this one.
const hashDomain = "csc-event/v1"

// HashEvent returns the chain hash of an event: the lowercase hexadecimal SHA-256 of the event's
// canonical encoding. The command engine stores it in Metadata.Hash and the next event of the same
// stream repeats it in Metadata.PrevHash; the Verifier recomputes it.
//
// The canonical encoding is the concatenation of the 14 fields below, in this order. Every field is a
// byte string written as its length in bytes (an unsigned 64-bit big-endian integer, 8 bytes) followed
// by the bytes themselves. Strings are their UTF-8 bytes; numbers are decimal ASCII digits without
// leading zeros or "+" (a negative number starts with "-"); an absent metadata value is the empty string
// (length 0).
//
//  1. the literal "csc-event/v1"
//  2. the stream name
//  3. the revision of the event in its stream ("0" for the first event)
//  4. the event type
//  5. the event data, byte for byte as stored (not re-encoded)
//  6. metadata actor
//  7. metadata role
//  8. metadata city
//  9. metadata commandId
//  10. metadata correlationId
//  11. metadata causationId
//  12. metadata commandHash
//  13. metadata schemaVersion (a number, e.g. "1")
//  14. metadata prevHash
//
// Metadata.Hash and Metadata.Recorded are not part of the encoding. Field values are those of the
// decoded metadata JSON (see Metadata for the wire names), so the hash does not depend on how a store
// or a copy formats that JSON. In Python, for example:
//
//	def f(b): return len(b).to_bytes(8, "big") + b
//	fields = [b"csc-event/v1", stream, str(revision), type, data, actor, role, city, commandId,
//	          correlationId, causationId, commandHash, str(schemaVersion), prevHash]
//	hashlib.sha256(b"".join(f(x if isinstance(x, bytes) else x.encode()) for x in fields)).hexdigest()
//
// HashEvent refuses an empty stream name or event type: no stored event has one.
func HashEvent(stream string, revision uint64, typ string, data []byte, md Metadata) (string, error) {
	if stream == "" {
		return "", errors.New("hash event: empty stream name")
	}
	if typ == "" {
		return "", errors.New("hash event: empty event type")
	}
	// The encoding is built in one buffer (on the stack for events of usual size) and hashed at once.
	var stack [2048]byte
	var num [20]byte
	b := appendField(stack[:0], hashDomain)
	b = appendField(b, stream)
	b = appendField(b, strconv.AppendUint(num[:0], revision, 10))
	b = appendField(b, typ)
	b = appendField(b, data)
	b = appendField(b, md.Actor)
	b = appendField(b, md.Role)
	b = appendField(b, md.City)
	b = appendField(b, md.CommandID)
	b = appendField(b, md.CorrelationID)
	b = appendField(b, md.CausationID)
	b = appendField(b, md.CommandHash)
	b = appendField(b, strconv.AppendInt(num[:0], int64(md.SchemaVersion), 10))
	b = appendField(b, md.PrevHash)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// appendField appends one length-prefixed field of the canonical encoding.
func appendField[T string | []byte](b []byte, v T) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(v))), v...)
}

// writeField writes one length-prefixed field of a canonical encoding to h.
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
