// fedtl table: the transfer table. Pretrains each scenario's backbone once (cached), then
// fine-tunes every strategy on every row and prints test accuracies as a Markdown table.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cstdio>
#include <sstream>

#include "common/error.h"
#include "common/file_io.h"
#include "common/ml/scenario.h"
#include "launch/commands.h"
#include "launch/transfer_common.h"
#include "participant/fine_tune.h"

namespace fedtl::launch {
namespace {

struct Row {
  std::string scenario;
  std::int64_t labelsPerClass;  // 0 = all
};

std::vector<Row> rowsFor(const std::string& preset) {
  if (preset == "quick") return {{"new-classes", 10}, {"far-domain", 10}};
  if (preset == "full") {
    std::vector<Row> rows{{"new-classes", 10}, {"new-classes", 100}, {"far-domain", 10}, {"far-domain", 100},
                          {"far-domain", 0}};
    for (const char* shift : {"invert", "rot90", "noise", "contrast"})
      for (std::int64_t n : {10, 100}) rows.push_back({std::string("domain-shift:") + shift, n});
    return rows;
  }
  // Explicit rows: SCENARIO@LABELS,... (LABELS 0 = all), e.g. new-classes@10,domain-shift:noise@100
  std::vector<Row> rows;
  std::stringstream list(preset);
  for (std::string item; std::getline(list, item, ',');) {
    auto at = item.rfind('@');
    FEDTL_ENFORCE(at != std::string::npos && at > 0 && at + 1 < item.size(), ConfigError, "--rows entry '", item,
                  "' must be SCENARIO@LABELS_PER_CLASS (or use quick or full)");
    std::int64_t labels = -1;
    try {
      labels = std::stoll(item.substr(at + 1));
    } catch (const std::exception&) {
    }
    FEDTL_ENFORCE(labels >= 0, ConfigError, "--rows entry '", item, "': labels per class must be a number >= 0");
    ml::Scenario::parse(item.substr(0, at));  // validate now, before any training
    rows.push_back({item.substr(0, at), labels});
  }
  FEDTL_ENFORCE(!rows.empty(), ConfigError, "--rows is empty: use quick, full or SCENARIO@LABELS,...");
  return rows;
}

}  // namespace

Command addTableCommand(CLI::App& app) {
  struct Args {
    std::string rows = "full", strategies = "linear-probe,partial:1,full,scratch", out, summary;
    participant::FineTuneOptions options;
    coordinator::PretrainOptions pretrain;
    std::uint64_t labelSeed = 1;
    int fewShotDraws = 3;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--rows", a->rows,
                 "quick (new-classes and far-domain at 10 labels), full, or SCENARIO@LABELS,... (0 = all labels)")
      ->capture_default_str();
  app.add_option("--strategies", a->strategies, "comma-separated strategies")->capture_default_str();
  app.add_option("--out", a->out, "also write the Markdown table here");
  app.add_option("--summary-json", a->summary, "write every measured row here");
  app.add_option("--pretrain-epochs", a->pretrain.epochs, "epochs for each scenario's backbone")->capture_default_str();
  app.add_option("--seed", a->options.seed, "training seed")->capture_default_str();
  app.add_option("--label-seed", a->labelSeed, "seed choosing the labeled samples")->capture_default_str();
  app.add_option("--few-shot-draws", a->fewShotDraws,
                 "rows with at most 10 labels per class average this many draws of the labeled samples")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  return [a] {
    std::vector<participant::Strategy> strategies;
    std::stringstream list(a->strategies);
    for (std::string s; std::getline(list, s, ',');) strategies.push_back(participant::Strategy::parse(s));
    auto rows = rowsFor(a->rows);

    std::ostringstream md;
    md << "| scenario | labels per class |";
    for (auto& s : strategies) md << ' ' << s.name() << " |";
    md << " best |\n|---|---|";
    for (std::size_t i = 0; i <= strategies.size(); ++i) md << "---|";
    md << '\n';
    std::printf("%s", md.str().c_str());
    std::fflush(stdout);

    rapidjson::StringBuffer json;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(json);
    w.StartObject();
    w.Key("rows");
    w.StartArray();
    std::map<std::string, double> sourceAccuracy;
    for (const auto& row : rows) {
      auto scenario = ml::Scenario::parse(row.scenario);
      std::string digest;
      double srcAcc = -1;
      auto pretrained = scenarioBackbone(scenario, a->pretrain, &digest, &srcAcc);
      if (srcAcc >= 0) sourceAccuracy[scenario.backboneKey()] = srcAcc;
      auto target = ml::scenarioTarget(scenario);
      // Few-shot accuracy swings by several points with the choice of labeled samples, so those
      // rows average several draws; every strategy sees the same draws.
      const int draws = row.labelsPerClass > 0 && row.labelsPerClass <= 10 ? a->fewShotDraws : 1;
      std::vector<ml::TensorSet> trainDraws;
      for (int d = 0; d < draws; ++d)
        trainDraws.push_back(ml::pickPerClass(target.train, row.labelsPerClass, a->labelSeed + static_cast<std::uint64_t>(d)));
      const auto& train = trainDraws.front();
      std::ostringstream line;
      line << "| " << scenario.name() << " | "
           << (row.labelsPerClass > 0 ? std::to_string(row.labelsPerClass) : "all (" + std::to_string(train.size()) + ")")
           << (draws > 1 ? " (mean of " + std::to_string(draws) + " draws)" : "") << " |";
      w.StartObject();
      w.Key("scenario");
      w.String(scenario.name().c_str());
      w.Key("labels_per_class");
      w.Int64(row.labelsPerClass);
      w.Key("train_samples");
      w.Int64(train.size());
      w.Key("test_samples");
      w.Int64(target.test.size());
      w.Key("label_draws");
      w.Int(draws);
      std::string best;
      double bestAcc = -1;
      for (const auto& strategy : strategies) {
        w.Key(strategy.name().c_str());
        w.StartObject();
        w.Key("draws");
        w.StartArray();
        double sum = 0, seconds = 0;
        std::vector<double> perClass;
        for (const auto& t : trainDraws) {
          auto r = participant::transfer(pretrained, strategy, t, target.test, a->options);
          sum += r.testAccuracy;
          seconds += r.report.totalSeconds;
          w.Double(r.testAccuracy);
          perClass.resize(r.perClassAccuracy.size(), 0.0);
          for (std::size_t c = 0; c < perClass.size(); ++c) perClass[c] += r.perClassAccuracy[c] / draws;
        }
        w.EndArray();
        w.Key("per_class_accuracy");
        w.StartArray();
        for (double v : perClass) w.Double(v);
        w.EndArray();
        const double accuracy = sum / draws;
        w.Key("test_accuracy");
        w.Double(accuracy);
        w.Key("train_seconds");
        w.Double(seconds / draws);
        w.EndObject();
        char cell[32];
        std::snprintf(cell, sizeof cell, " %.1f |", 100.0 * accuracy);
        line << cell;
        if (accuracy > bestAcc) {
          bestAcc = accuracy;
          best = strategy.name();
        }
      }
      line << ' ' << best << " |\n";
      w.EndObject();
      md << line.str();
      std::printf("%s", line.str().c_str());
      std::fflush(stdout);
    }
    w.EndArray();
    w.Key("pretrain_source_accuracy");
    w.StartObject();
    for (auto& [key, acc] : sourceAccuracy) {
      w.Key(key.c_str());
      w.Double(acc);
    }
    w.EndObject();
    w.EndObject();
    if (!a->out.empty()) writeFileAtomic(a->out, md.str());
    if (!a->summary.empty()) writeFileAtomic(a->summary, std::string(json.GetString(), json.GetSize()) + "\n");
    return 0;
  };
}

}  // namespace fedtl::launch
