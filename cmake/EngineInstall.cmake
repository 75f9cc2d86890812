# `cmake --install`: the engine as a library that other projects link.
# Puts in place, under the prefix:
#   include/engine/...              the public headers (EngineHeaders.cmake picks them)
#   lib/libengine.a or .so          the engine, as this build made it
#   lib/libengine_cuda.so           the CUDA backend module, beside libengine.so
#                                   (where engine/backend_module.c looks for it)
#   lib/cmake/Engine/               find_package(Engine CONFIG): the Engine::engine target
#   lib/pkgconfig/engine.pc         pkg-config --cflags --libs engine
# Included by the top-level CMakeLists.txt after the engine targets exist.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ENGINE_VERSION 0.1.0)
set(ENGINE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Engine)

# A sanitized libengine.a needs the sanitizer runtimes wherever it is linked.
if(SANITIZE)
  target_link_options(engine INTERFACE -fsanitize=address,undefined)
endif()

install(TARGETS engine EXPORT EngineTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TARGET engine_cuda)
  # $ORIGIN: the libengine.so beside it; the link path: CUDA libraries in
  # folders neither the system nor the CUDA compiler searches (the
  # toolkit's own folder is left out, as in the build folder: the loader's
  # configuration, ldconfig, finds it there)
  set_target_properties(engine_cuda PROPERTIES
    INSTALL_RPATH "$ORIGIN"
    INSTALL_RPATH_USE_LINK_PATH TRUE)
  install(TARGETS engine_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

# The headers are chosen when installing, not when configuring, so that a
# header the template starts to include is installed without a new configure.
install(CODE "set(ENGINE_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
set(ENGINE_HEADER_DEST \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_INCLUDEDIR}\")")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/EngineHeaders.cmake)

install(EXPORT EngineTargets NAMESPACE Engine:: DESTINATION ${ENGINE_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/EngineConfig.cmake.in
  ${CMAKE_BINARY_DIR}/EngineConfig.cmake
  INSTALL_DESTINATION ${ENGINE_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/EngineConfigVersion.cmake
  VERSION ${ENGINE_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/EngineConfig.cmake ${CMAKE_BINARY_DIR}/EngineConfigVersion.cmake
  DESTINATION ${ENGINE_CMAKE_DIR})

# engine.pc: a static libengine.a needs its dependencies on every link line
# (Libs); a shared libengine.so carries them itself (Libs.private).
set(ENGINE_PC_DEPS "")
foreach(lib ${CJSON_LIBRARY} ${BLAS_LIBRARIES} ${ENGINE_DNNL_LIBRARY})
  get_filename_component(name ${lib} NAME_WE)
  get_filename_component(dir ${lib} DIRECTORY)
  string(REGEX REPLACE "^lib" "" name ${name})
  if(NOT dir IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
    string(APPEND ENGINE_PC_DEPS " -L${dir}")
  endif()
  string(APPEND ENGINE_PC_DEPS " -l${name}")
endforeach()
string(APPEND ENGINE_PC_DEPS " ${OpenMP_C_FLAGS} -lm")
foreach(lib ${CMAKE_DL_LIBS})
  string(APPEND ENGINE_PC_DEPS " -l${lib}")
endforeach()
if(SANITIZE)
  string(APPEND ENGINE_PC_DEPS " -fsanitize=address,undefined")
endif()
string(STRIP "${ENGINE_PC_DEPS}" ENGINE_PC_DEPS)
get_target_property(engine_type engine TYPE)
if(engine_type STREQUAL "STATIC_LIBRARY")
  set(ENGINE_PC_LIBS "-L\${libdir} -lengine ${ENGINE_PC_DEPS}")
  set(ENGINE_PC_LIBS_PRIVATE "")
else()
  set(ENGINE_PC_LIBS "-L\${libdir} -lengine")
  set(ENGINE_PC_LIBS_PRIVATE "${ENGINE_PC_DEPS}")
endif()
file(RELATIVE_PATH ENGINE_PC_UP /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" ENGINE_PC_UP "${ENGINE_PC_UP}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/engine.pc.in ${CMAKE_BINARY_DIR}/engine.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/engine.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
