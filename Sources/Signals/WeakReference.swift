/// A weak reference that can cross concurrency domains.
///
/// Loading a Swift weak reference is atomic, and the stored reference never changes after
/// initialisation, so sharing it between threads is safe.
@usableFromInline
final class WeakReference<Object: AnyObject & Sendable>: Sendable {
    @usableFromInline
    weak let object: Object?

    @usableFromInline
    init(_ object: Object) {
        self.object = object
    }
}
