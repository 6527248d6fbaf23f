import NIOCore

/// Splits a connection's byte stream into request lines (docs/protocol.md: one JSON object per
/// line, ended by `\n`), one line at a time and only when asked.
///
/// It is pulled rather than pushed (as NIO's `ByteToMessageDecoder`s are) because the connection
/// takes a line only while it has room for one more request in flight: the lines it cannot take
/// yet stay here, as bytes, with reads held. A search for the newline never looks at the same
/// bytes twice, however the line arrives in pieces.
struct LineFramer {
    /// What ``next(maximumLength:)`` found.
    enum Frame: Equatable {
        /// A complete line, without its newline.
        case line(ByteBuffer)
        /// The line being read is longer than the maximum: with or without its newline yet.
        case tooLong
    }

    private var buffer = ByteBuffer()
    /// How many bytes at the start of `buffer`'s readable part hold no newline.
    private var scanned = 0

    /// Bytes received and not yet returned as lines.
    var bufferedBytes: Int { buffer.readableBytes }

    /// Adds bytes read from the connection.
    mutating func append(_ bytes: inout ByteBuffer) {
        if buffer.readableBytes == 0 {
            // The common case, a read that ends on a line's end: no copy.
            buffer = bytes
            bytes.moveReaderIndex(to: bytes.writerIndex)
        } else {
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next complete line, ``Frame/tooLong`` once the line being read exceeds `maximumLength`
    /// bytes, or `nil` while the line is incomplete.
    mutating func next(maximumLength: Int) -> Frame? {
        let view = buffer.readableBytesView
        guard let newline = view[(view.startIndex + scanned)...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = view.count
            return view.count > maximumLength ? .tooLong : nil
        }
        let length = newline - view.startIndex
        guard length <= maximumLength else { return .tooLong }
        let line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        scanned = 0
        if buffer.readableBytes == 0 {
            buffer = ByteBuffer()  // the next read is taken without a copy
        } else if buffer.readerIndex > 65536 {
            buffer.discardReadBytes()
        }
        return .line(line)
    }

    /// Throws every buffered byte away (a refused connection, or a partial line at the end).
    mutating func discardAll() {
        buffer = ByteBuffer()
        scanned = 0
    }
}
