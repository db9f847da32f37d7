/// The version every stage prints for `--version`.
public enum MTFQIVersion {
  public static let string = "0.1.0"
}
