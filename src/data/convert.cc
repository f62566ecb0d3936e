#include "data/convert.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/strings.h"
#include "data/json_reader.h"

namespace asl::data {

const std::vector<std::string>& ego4d_mq_labels() {
  // The Ego4D MQ v1 taxonomy in the label_id order of the processed clip annotations that
  // ASL/ActionFormer trainers read (ego4d_dict of ego4d_asl's convert_annotation.py), so
  // converted ids match reference checkpoints. Some official names carry quote characters.
  static const std::vector<std::string> kLabels = {
      "take_photo_/_record_video_with_a_camera",  // 0
      "hang_clothes_in_closet_/_on_hangers",  // 1
      "browse_through_clothing_items_on_rack_/_shelf_/_hanger",  // 2
      "withdraw_money_from_atm_/_operate_atm",  // 3
      "stir_/_mix_ingredients_in_a_bowl_or_pan_(before_cooking)",  // 4
      "wash_hands",  // 5
      "clean_/_wipe_other_surface_or_object",  // 6
      "put_away_(or_take_out)_ingredients_in_storage",  // 7
      "throw_away_trash_/_put_trash_in_trash_can",  // 8
      "turn-on_/_light_the_stove_burner",  // 9
      "arrange_/_organize_items_in_fridge",  // 10
      "converse_/_interact_with_someone",  // 11
      "climb_up_/_down_a_ladder",  // 12
      "plaster_wall_/_surface",  // 13
      "paint_using_paint_brush_/_roller",  // 14
      "use_a_vacuum_cleaner_to_clean",  // 15
      "use_phone",  // 16
      "watch_television",  // 17
      "dismantle_other_item",  // 18
      "drill_into_wall_/_wood_/_floor_/_metal",  // 19
      "fix_other_item",  // 20
      "stir_/_mix_food_while_cooking",  // 21
      "knead_/_shape_/_roll-out_dough",  // 22
      "clean_/_wipe_kitchen_appliance",  // 23
      "arrange_/_organize_other_items",  // 24
      "cut_dough",  // 25
      "fix_wiring",  // 26
      "cut_other_item_using_tool",  // 27
      "read_a_book_/_magazine_/_shopping_list_etc.",  // 28
      "clean_/_wipe_a_table_or_kitchen_counter",  // 29
      "walk_down_stairs_/_walk_up_stairs",  // 30
      "place_items_in_shopping_cart",  // 31
      "browse_through_groceries_or_food_items_on_rack_/_shelf",  // 32
      "\"clean_/_repair_small_equipment_(mower,_trimmer_etc.)\"",  // 33
      "use_hammer_/_nail-gun_to_fix_nail",  // 34
      "measure_wooden_item_using_tape_/_ruler",  // 35
      "mark_item_with_pencil_/_pen_/_marker",  // 36
      "use_a_laptop_/_computer",  // 37
      "fry_other_food_item",  // 38
      "put_away_(or_take_out)_food_items_in_the_fridge",  // 39
      "count_money_before_paying",  // 40
      "pack_food_items_/_groceries_into_bags_/_boxes",  // 41
      "pay_at_billing_counter",  // 42
      "browse_through_accessories_on_rack_/_shelf",  // 43
      "cut_thread_/_paper_/_cardboard_using_scissors_/_knife_/_cutter",  // 44
      "dig_or_till_the_soil_with_a_hoe_or_other_tool",  // 45
      "\"level_ground_/_soil_(eg._using_rake,_shovel,_etc)\"",  // 46
      "pack_soil_into_the_ground_or_a_pot_/_container",  // 47
      "plant_seeds_/_plants_/_flowers_into_ground",  // 48
      "enter_a_supermarket_/_shop",  // 49
      "browse_through_other_items_on_rack_/_shelf",  // 50
      "exit_a_supermarket_/_shop",  // 51
      "\"put_on_safety_equipment_(e.g._gloves,_helmet,_safety_goggles)\"",  // 52
      "stand_in_the_queue_/_line_at_a_shop_/_supermarket",  // 53
      "weigh_food_/_ingredient_using_a_weighing_scale",  // 54
      "arrange_/_organize_clothes_in_closet/dresser",  // 55
      "fold_clothes_/_sheets",  // 56
      "fry_dough",  // 57
      "remove_food_from_the_oven",  // 58
      "water_soil_/_plants_/_crops",  // 59
      "play_board_game_or_card_game",  // 60
      "clean_/_sweep_floor_with_broom",  // 61
      "eat_a_snack",  // 62
      "make_coffee_or_tea_/_use_a_coffee_machine",  // 63
      "fill_a_pot_/_bottle_/_container_with_water",  // 64
      "drink_beverage",  // 65
      "cut_open_a_package_(e.g._with_scissors)",  // 66
      "serve_food_onto_a_plate",  // 67
      "wash_dishes_/_utensils_/_bakeware_etc.",  // 68
      "prepare_or_apply_cement_/_concrete_/_mortar",  // 69
      "move_/_shift_around_construction_material",  // 70
      "rinse_/_drain_other_food_item_in_sieve_/_colander",  // 71
      "clean_/_wipe_/_oil_metallic_item",  // 72
      "pack_other_items_into_bags_/_boxes",  // 73
      "peel_a_fruit_or_vegetable",  // 74
      "\"cut_/_chop_/_slice_a_vegetable,_fruit,_or_meat\"",  // 75
      "cut_/_trim_grass_with_a_lawnmower",  // 76
      "\"try-out_/_wear_clothing_items_(e.g._shirt,_jeans,_sweater)\"",  // 77
      "move_/_shift_/_arrange_small_tools",  // 78
      "play_a_video_game",  // 79
      "do_some_exercise",  // 80
      "put_away_(or_take_out)_dishes_/_utensils_in_storage",  // 81
      "chop_/_cut_wood_pieces_using_tool",  // 82
      "look_at_clothes_in_the_mirror",  // 83
      "fix_/_remove_/_replace_a_tire_or_wheel",  // 84
      "remove_weeds_from_ground",  // 85
      "harvest_vegetables_/_fruits_/_crops_from_plants_on_the_ground",  // 86
      "fix_pipe_/_plumbing",  // 87
      "smooth_wood_using_sandpaper_/_sander_/_tool",  // 88
      "load_/_unload_a_washing_machine_or_dryer",  // 89
      "cut_tree_branch",  // 90
      "collect_/_rake_dry_leaves_on_ground",  // 91
      "cut_/_trim_grass_with_other_tools",  // 92
      "smoke_cigar_/_cigarette_/_vape",  // 93
      "iron_clothes_or_sheets",  // 94
      "wash_vegetable_/_fruit_/_food_item",  // 95
      "taste_food_while_cooking",  // 96
      "compare_two_clothing_items",  // 97
      "dig_or_till_the_soil_by_hand",  // 98
      "drive_a_vehicle",  // 99
      "trim_hedges_or_branches",  // 100
      "interact_or_play_with_pet_/_animal",  // 101
      "\"try-out_/_wear_accessories_(e.g._tie,_belt,_scarf)\"",  // 102
      "tie_up_branches_/_plants_with_string",  // 103
      "arrange_pillows_on_couch_/_chair",  // 104
      "\"make_the_bed_/_arrange_pillows,_sheets_etc._on_bed\"",  // 105
      "put_food_into_the_oven_to_bake",  // 106
      "fix_bonnet_/_engine_of_car",  // 107
      "write_notes_in_a_paper_/_book",  // 108
      "hang_clothes_to_dry",  // 109
  };
  return kLabels;
}

namespace {

using json_reader::Json;
using json_reader::JsonPath;

bool is_test_split(const std::string& split) {
  std::string s = split;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "test";
}

// Label name -> id, and where the names came from (for error messages).
struct LabelIds {
  std::vector<std::string> names;
  std::unordered_map<std::string, int64_t> ids;
  std::string source;

  int64_t lookup(const std::string& name, const JsonPath& at) const {
    const auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    std::string problem = "unknown label '" + name + "'";
    std::size_t best = std::string::npos;
    const std::string* nearest = nullptr;
    for (const auto& candidate : names) {
      const std::size_t d = edit_distance(name, candidate);
      if (d < best) {
        best = d;
        nearest = &candidate;
      }
    }
    if (nearest != nullptr && best <= 4) problem += "; did you mean '" + *nearest + "'?";
    at.fail(problem, "the labels come from " + source +
                         "; give --label-map FILE (one name per line) to use another list");
  }
};

LabelIds make_label_ids(const ConvertOptions& options) {
  LabelIds l;
  if (options.label_map.empty()) {
    l.names = ego4d_mq_labels();
    l.source = "the built-in Ego4D MQ v1 map (docs/annotations.md)";
  } else {
    l.names = read_label_map(options.label_map);
    l.source = "the label map " + options.label_map;
  }
  for (std::size_t i = 0; i < l.names.size(); ++i) {
    l.ids.emplace(l.names[i], static_cast<int64_t>(i));
  }
  return l;
}

// ego4d.json: video_uid -> duration_sec. The real file describes each video at length;
// everything but these two keys is dropped while parsing to keep memory small.
std::unordered_map<std::string, double> read_metadata(const std::string& path) {
  const Json::parser_callback_t keep_durations = [](int depth, Json::parse_event_t event,
                                                    Json& parsed) {
    if (event != Json::parse_event_t::key) return true;
    const auto& key = parsed.get_ref<const std::string&>();
    if (depth == 1) return key == "videos";
    if (depth == 3) return key == "video_uid" || key == "duration_sec";
    return true;
  };
  const Json root = json_reader::parse_json(read_file(path), path, keep_durations);
  const JsonPath at(path);
  json_reader::as_object(root, at);
  const JsonPath videos_at = at.key("videos");
  const Json& videos = json_reader::as_array(json_reader::member(root, "videos", at), videos_at);
  std::unordered_map<std::string, double> durations;
  for (std::size_t i = 0; i < videos.size(); ++i) {
    const JsonPath v_at = videos_at.index(i);
    const Json& v = json_reader::as_object(videos[i], v_at);
    const std::string& uid = json_reader::as_string(json_reader::member(v, "video_uid", v_at), v_at.key("video_uid"));
    const double d = json_reader::as_number(json_reader::member(v, "duration_sec", v_at), v_at.key("duration_sec"));
    if (!(d > 0)) v_at.key("duration_sec").fail("must be positive, found " + json_reader::number_text(d));
    durations.emplace(uid, d);
  }
  return durations;
}

// One label entry of an annotator. Returns false for a non-primary entry (skipped).
bool read_label(const Json& entry, const Clip& clip, const LabelIds& labels, const JsonPath& at,
                Segment& out) {
  json_reader::as_object(entry, at);
  if (!json_reader::as_bool(json_reader::member(entry, "primary", at), at.key("primary"))) return false;
  out.start = json_reader::as_number(json_reader::member(entry, "start_time", at), at.key("start_time"));
  out.end = json_reader::as_number(json_reader::member(entry, "end_time", at), at.key("end_time"));
  json_reader::check_segment(out.start, out.end, clip.duration, at);
  out.label = json_reader::as_string(json_reader::member(entry, "label", at), at.key("label"));
  out.label_id = labels.lookup(out.label, at.key("label"));
  return true;
}

// Collects the clips of all files in file order, merging a clip listed twice.
class Converter {
 public:
  Converter(const ConvertOptions& options, LabelIds labels,
            std::unordered_map<std::string, double> metadata)
      : options_(options), labels_(std::move(labels)), metadata_(std::move(metadata)) {}

  void add_file(const std::string& file) {
    const Json root = json_reader::parse_json(read_file(file), file);
    const JsonPath at(file);
    json_reader::as_object(root, at);
    const JsonPath videos_at = at.key("videos");
    const Json& videos = json_reader::as_array(json_reader::member(root, "videos", at), videos_at);
    Progress progress("convert", static_cast<int64_t>(videos.size()), "videos");
    for (std::size_t i = 0; i < videos.size(); ++i) {
      add_video(videos[i], at, videos_at.index(i));
      progress.advance();
    }
    progress.finish();
  }

  ConvertReport finish() {
    ConvertReport report;
    report.skipped_non_primary = skipped_non_primary_;
    for (Clip& c : clips_) {
      // The reference converter drops annotated-split clips left without a primary label.
      if (c.annotations.empty() && !is_test_split(c.subset)) {
        ++report.dropped_unlabeled;
        continue;
      }
      if (options_.metadata.empty()) c.v_duration = last_clip_end_[c.video_id];
      report.annotations.clips.push_back(std::move(c));
    }
    if (options_.metadata.empty()) {
      report.videos_without_metadata = static_cast<int64_t>(last_clip_end_.size());
    }
    return report;
  }

 private:
  void add_video(const Json& video, const JsonPath& file_at, const JsonPath& at) {
    json_reader::as_object(video, at);
    const std::string& video_uid =
        json_reader::as_string(json_reader::member(video, "video_uid", at), at.key("video_uid"));
    const std::string& split = json_reader::as_string(json_reader::member(video, "split", at), at.key("split"));
    if (split.empty()) at.key("split").fail("is empty", "use train, val or test");
    const JsonPath clips_at = at.key("clips");
    const Json& clips = json_reader::as_array(json_reader::member(video, "clips", at), clips_at);
    for (std::size_t j = 0; j < clips.size(); ++j) {
      const JsonPath clip_at = clips_at.index(j);
      json_reader::as_object(clips[j], clip_at);
      const std::string& uid =
          json_reader::as_string(json_reader::member(clips[j], "clip_uid", clip_at), clip_at.key("clip_uid"));
      add_clip(clips[j], video_uid, split, file_at.in_clip(uid));
    }
  }

  void add_clip(const Json& clip, const std::string& video_uid, const std::string& split,
                const JsonPath& at) {
    Clip c;
    c.clip_id = json_reader::as_string(json_reader::member(clip, "clip_uid", at), at.key("clip_uid"));
    c.video_id = video_uid;
    c.subset = split;
    c.parent_start_sec =
        json_reader::as_number(json_reader::member(clip, "video_start_sec", at), at.key("video_start_sec"));
    c.parent_end_sec =
        json_reader::as_number(json_reader::member(clip, "video_end_sec", at), at.key("video_end_sec"));
    if (!(c.parent_end_sec > c.parent_start_sec)) {
      at.key("video_end_sec")
          .fail(json_reader::number_text(c.parent_end_sec) + " is not after video_start_sec " +
                json_reader::number_text(c.parent_start_sec));
    }
    c.duration = c.parent_end_sec - c.parent_start_sec;
    c.fps = options_.feature_fps;
    if (!options_.metadata.empty()) {
      const auto it = metadata_.find(video_uid);
      if (it == metadata_.end()) {
        at.fail("video " + video_uid + " is not listed in " + options_.metadata,
                "give the metadata file (ego4d.json) of the same Ego4D version");
      }
      c.v_duration = it->second;
    }
    double& last_end = last_clip_end_[video_uid];
    last_end = std::max(last_end, c.parent_end_sec);

    // Test clips carry no ground truth, whatever the file holds (as the reference).
    if (!is_test_split(split)) read_annotations(clip, c, at);

    const auto [it, fresh] = index_.emplace(c.clip_id, std::make_pair(clips_.size(), at.file()));
    if (fresh) {
      clips_.push_back(std::move(c));
      return;
    }
    // Listed again (the reference merges such entries): same clip, more annotations.
    Clip& first = clips_[it->second.first];
    if (first.video_id != c.video_id || first.parent_start_sec != c.parent_start_sec ||
        first.parent_end_sec != c.parent_end_sec || first.subset != c.subset) {
      at.fail("listed again with another video, split or times (first in " +
                  it->second.second + ")",
              "keep one entry per clip");
    }
    first.annotations.insert(first.annotations.end(), c.annotations.begin(),
                             c.annotations.end());
  }

  void read_annotations(const Json& clip, Clip& c, const JsonPath& at) {
    const Json* annotators = json_reader::optional_member(clip, "annotations");
    if (annotators == nullptr) return;
    const JsonPath list_at = at.key("annotations");
    json_reader::as_array(*annotators, list_at);
    for (std::size_t k = 0; k < annotators->size(); ++k) {
      const JsonPath annotator_at = list_at.index(k);
      json_reader::as_object((*annotators)[k], annotator_at);
      const JsonPath labels_at = annotator_at.key("labels");
      const Json& entries =
          json_reader::as_array(json_reader::member((*annotators)[k], "labels", annotator_at), labels_at);
      for (std::size_t l = 0; l < entries.size(); ++l) {
        Segment s;
        if (read_label(entries[l], c, labels_, labels_at.index(l), s)) {
          c.annotations.push_back(std::move(s));
        } else {
          ++skipped_non_primary_;
        }
      }
    }
  }

  const ConvertOptions& options_;
  LabelIds labels_;
  std::unordered_map<std::string, double> metadata_;
  std::vector<Clip> clips_;
  std::unordered_map<std::string, std::pair<std::size_t, std::string>> index_;  // -> clip, file
  std::unordered_map<std::string, double> last_clip_end_;                       // per video
  int64_t skipped_non_primary_ = 0;
};

}  // namespace

std::vector<std::string> read_label_map(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<std::string> lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the final newline
  std::unordered_map<std::string, std::size_t> seen;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string name = lines[i];
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
    std::size_t first = 0;
    while (first < name.size() && std::isspace(static_cast<unsigned char>(name[first]))) ++first;
    name.erase(0, first);
    const std::string where = path + ":" + std::to_string(i + 1);
    if (name.empty()) {
      throw Error(where, "empty line", "one label per line; the id is the line index from 0");
    }
    const auto [it, fresh] = seen.emplace(name, i + 1);
    if (!fresh) {
      throw Error(where, "label '" + name + "' is already on line " + std::to_string(it->second),
                  "list each label once");
    }
    names.push_back(std::move(name));
  }
  if (names.empty()) throw Error(path, "the label map is empty", "list one label per line");
  return names;
}

ConvertReport convert_official(const ConvertOptions& options) {
  if (options.moments.empty()) {
    throw Error("--moments", "no annotation file given", "name at least one moments_*.json");
  }
  if (!(options.feature_fps > 0) || !std::isfinite(options.feature_fps)) {
    throw Error("--feature-fps", "must be a positive number, found " +
                                     json_reader::number_text(options.feature_fps));
  }
  LabelIds labels = make_label_ids(options);
  auto metadata = options.metadata.empty() ? std::unordered_map<std::string, double>{}
                                           : read_metadata(options.metadata);
  Converter converter(options, std::move(labels), std::move(metadata));
  for (const std::string& file : options.moments) converter.add_file(file);
  return converter.finish();
}

ConvertReport convert_to_file(const ConvertOptions& options, const std::string& out) {
  ConvertReport report = convert_official(options);
  write_clip_annotations(report.annotations, out);
  return report;
}

std::string describe(const ConvertReport& report) {
  std::ostringstream s;
  s << summarize(report.annotations);
  s << "dropped " << report.dropped_unlabeled << " train/val clips without a primary label; "
    << "skipped " << report.skipped_non_primary << " non-primary labels\n";
  if (report.videos_without_metadata > 0) {
    s << "no --metadata: v_duration of " << report.videos_without_metadata
      << " videos set to their last clip's end\n";
  }
  return s.str();
}

}  // namespace asl::data
