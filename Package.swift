// swift-tools-version:6.0
import PackageDescription

/// What every stage executable uses: the core library and the shared command-line layer.
let stageDependencies: [Target.Dependency] = [
  "MTFQI", "MTFQICommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
]

let package = Package(
  name: "mtfqi",
  platforms: [.macOS(.v13)],
  products: [
    .library(name: "MTFQI", targets: ["MTFQI"]),
    .executable(name: "mtfqi-ingest", targets: ["mtfqi-ingest"]),
    .executable(name: "mtfqi-coverage", targets: ["mtfqi-coverage"]),
    .executable(name: "mtfqi-synth", targets: ["mtfqi-synth"]),
    .executable(name: "mtfqi-inspect", targets: ["mtfqi-inspect"]),
    .executable(name: "mtfqi-train", targets: ["mtfqi-train"]),
    .executable(name: "mtfqi-export", targets: ["mtfqi-export"]),
    .executable(name: "mtfqi-fit", targets: ["mtfqi-fit"]),
    .executable(name: "mtfqi-evaluate", targets: ["mtfqi-evaluate"]),
    .executable(name: "mtfqi-report", targets: ["mtfqi-report"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
  ],
  targets: [
    // One [system] module per C library; only the core library imports them.
    .systemLibrary(
      name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
    .systemLibrary(
      name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    // Correctly rounded, fast decimal-to-binary parsing (fast_float, Debian libfast-float-dev)
    // and the one-pass parsers of common CSV / JSON Lines lines built on it, behind plain C
    // functions, so no C++ interoperability is needed in Swift.
    .target(
      name: "CFastFloat",
      cxxSettings: [.unsafeFlags(["-O3"])]),
    // Signal hygiene (async-signal-safe removal of temporary outputs, crash containment).
    .target(name: "CSupport"),
    .target(
      name: "MTFQI",
      dependencies: [
        "CHDF5", "CBLAS", "CZlib", "CFastFloat", "CSupport",
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: [.enableUpcomingFeature("InternalImportsByDefault")],
      linkerSettings: [.linkedLibrary("lapacke")]),
    // The stages' shared command-line layer: option groups (output, objective), flag value
    // types and the process setup every stage does before parsing. ArgumentParser stays out of
    // the core library; the executables and the tests use this module.
    .target(
      name: "MTFQICommandLine",
      dependencies: ["MTFQI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    .executableTarget(
      name: "mtfqi-ingest",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-coverage",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-synth",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-inspect",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-train",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-export",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-fit",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-evaluate",
      dependencies: stageDependencies),
    .executableTarget(
      name: "mtfqi-report",
      dependencies: stageDependencies),
    .testTarget(
      name: "MTFQITests",
      dependencies: [
        "MTFQI", "MTFQICommandLine",
        .product(name: "Numerics", package: "swift-numerics"),
      ],
      resources: []),
  ],
  cxxLanguageStandard: .cxx17
)
