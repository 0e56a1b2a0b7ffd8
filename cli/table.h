// Aligned text tables for human-readable output.
//
//   Table t({"ID", "STATE", "DURATION"});
//   t.AddRow({"j01", "RUNNING", "3.2s"});
//   t.Print(std::cout);        // ID   STATE    DURATION
//                              // j01  RUNNING  3.2s
//
// Columns are as wide as their widest cell (UTF-8 aware) and separated by two spaces; the last
// column is not padded. Cells hold one line: newlines and tabs become spaces.
#ifndef SEMATIC_CLI_TABLE_H_
#define SEMATIC_CLI_TABLE_H_

#include <ostream>
#include <string>
#include <vector>

namespace sematic::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Missing cells are empty; extra cells are an error of the caller and are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_TABLE_H_
