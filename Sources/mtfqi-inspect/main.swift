import ArgumentParser
import MTFQI
import MTFQICommandLine

@main
struct Inspect: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-inspect",
    abstract: "Print a readable summary of an mtfqi file (a store: tasks, spaces, counts, provenance).",
    discussion: """
      Examples:
        mtfqi-inspect build/store.h5
        mtfqi-inspect build/store.h5 --json | python3 -m json.tool
        for t in $(mtfqi-inspect build/new.h5 --task-names); do echo "$t"; done
      """,
    version: MTFQIVersion.string)

  @Argument(help: "The file to describe.")
  var file: String

  @Flag(help: "Print JSON instead of the table.")
  var json = false

  @Flag(help: "Print only the store's task names, one per line (for scripts and make).")
  var taskNames = false

  func run() throws {
    let inspection: FileInspection
    do {
      inspection = try FileInspection.inspect(file)
    } catch {
      throw RuntimeFailure(error.description)
    }
    if taskNames {
      for task in inspection.tasks { print(task.name) }
    } else {
      print(json ? try JSONText.encode(inspection) : inspection.text)
    }
  }
}
