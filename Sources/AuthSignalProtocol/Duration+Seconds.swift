extension Duration {
    /// This duration in seconds, with its fraction: what Dispatch deadlines and histograms take.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
