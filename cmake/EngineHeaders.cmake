# Install-time script (run by `cmake --install`, see EngineInstall.cmake):
# installs the engine's public headers into ENGINE_HEADER_DEST/engine/...
# Public means: engine/engine.h, every engine header that the template (what
# new_project.sh copies and users edit: train.c, test.c, model/, trainer/,
# base/, data_loader/...) includes, and every engine header those include in
# turn. The backends' own headers (engine/cpu, engine/cuda) and *_impl.h
# stay private: a public header that reaches one is an error here.
# Inputs: ENGINE_SOURCE_DIR, ENGINE_HEADER_DEST.
cmake_policy(PUSH)
cmake_policy(VERSION 3.18) # IN_LIST in the install script

# The engine headers that FILE includes ("engine/..." or <engine/...>).
function(engine_includes file out)
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]engine/[^\">]+[\">]")
  set(found "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[\"<](engine/[^\">]+)[\">].*$" "\\1" header "${line}")
    list(APPEND found ${header})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

set(template_files "")
foreach(pattern *.c *.h base/*.[ch] data_loader/*.[ch] model/*.[ch] trainer/*.[ch] logger/*.[ch]
        utils/*.[ch] dist/*.[ch] tuner/*.[ch])
  file(GLOB matches ${ENGINE_SOURCE_DIR}/${pattern})
  list(APPEND template_files ${matches})
endforeach()

set(pending engine/engine.h)
foreach(file IN LISTS template_files)
  engine_includes(${file} found)
  list(APPEND pending ${found})
endforeach()

set(public "")
while(pending)
  list(POP_FRONT pending header)
  if(header IN_LIST public)
    continue()
  endif()
  if(header MATCHES "^engine/(cpu|cuda)/" OR header MATCHES "_impl\\.h$")
    message(FATAL_ERROR "${header} is private to the engine, yet the template or a public header includes it")
  endif()
  if(NOT EXISTS ${ENGINE_SOURCE_DIR}/${header})
    message(FATAL_ERROR "public header ${header} not found in ${ENGINE_SOURCE_DIR}")
  endif()
  list(APPEND public ${header})
  engine_includes(${ENGINE_SOURCE_DIR}/${header} found)
  list(APPEND pending ${found})
endwhile()

list(SORT public)
foreach(header IN LISTS public)
  get_filename_component(dir ${header} DIRECTORY)
  file(INSTALL DESTINATION ${ENGINE_HEADER_DEST}/${dir} TYPE FILE FILES ${ENGINE_SOURCE_DIR}/${header})
endforeach()
cmake_policy(POP)
